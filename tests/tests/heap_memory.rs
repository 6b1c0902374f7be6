//! The heap gives memory back: a process unmaps an arena once its last block there drops.
//! (A test binary of its own, so no other test maps arenas meanwhile.)

use multiprocessing::heap::HeapBlock;

/// Number and total size of the heap arenas mapped in this process.
fn heap_mappings() -> (usize, u64) {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines()
        .filter(|l| l.contains("memfd:mp-heap"))
        .map(|l| {
            let range = l.split_whitespace().next().unwrap();
            let (a, b) = range.split_once('-').unwrap();
            u64::from_str_radix(b, 16).unwrap() - u64::from_str_radix(a, 16).unwrap()
        })
        .fold((0, 0), |(n, total), size| (n + 1, total + size))
}

#[test]
fn arenas_are_unmapped_when_their_last_block_drops() {
    let before = heap_mappings();
    let small: Vec<HeapBlock> = (0..3000).map(|_| HeapBlock::new(1000).unwrap()).collect();
    let large = HeapBlock::new(4 << 20).unwrap();
    let during = heap_mappings();
    assert!(
        during.0 >= before.0 + 4,
        "three small-block arenas and one large: {during:?}"
    );
    assert!(during.1 >= before.1 + (7 << 20));
    // Dropping all but one small block keeps only that block's arena.
    let last = small[0].clone();
    drop(small);
    drop(large);
    assert_eq!(heap_mappings().0, before.0 + 1);
    drop(last);
    assert_eq!(heap_mappings(), before);
}
