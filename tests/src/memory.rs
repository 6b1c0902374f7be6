//! What this process has mapped, read from `/proc/self/maps`, and what is in `/dev/shm`.

/// The names in `/dev/shm` now.
pub fn dev_shm() -> std::collections::BTreeSet<String> {
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Number and total size of the shared-memory heap arenas mapped in this process.
pub fn heap_mappings() -> (usize, u64) {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
    maps.lines()
        .filter(|l| l.contains("memfd:mp-heap"))
        .map(|l| {
            let range = l.split_whitespace().next().expect("address range");
            let (a, b) = range.split_once('-').expect("start-end");
            u64::from_str_radix(b, 16).expect("hex end")
                - u64::from_str_radix(a, 16).expect("hex start")
        })
        .fold((0, 0), |(n, total), size| (n + 1, total + size))
}
