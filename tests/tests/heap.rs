//! The shared-memory heap and named segments across real processes.

use std::time::Duration;

use multiprocessing::runtime::heap::HeapBlock;
use multiprocessing::{Event, SharedMemory};
use multiprocessing_tests::fork::{fork, fork_with};

/// Every child forked here counts every live block, so tests that check counts fork one at a
/// time.
static FORKS: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn a_forked_child_holds_its_own_reference() {
    let _one_at_a_time = FORKS.lock().unwrap_or_else(|p| p.into_inner());
    let block = HeapBlock::new(8).unwrap();
    assert_eq!(block.ref_count(), 1);
    let b = block.clone();
    let child = fork(move || {
        let seen = b.ref_count();
        drop(b);
        i32::try_from(seen).unwrap()
    });
    assert_eq!(child.wait(), 2, "the child counted itself");
    assert_eq!(block.ref_count(), 1, "and gave its reference back");
}

#[test]
fn a_block_freed_by_its_last_holder_in_another_process_is_reused() {
    // A size class no other test here uses; `keep` keeps the arena mapped in this process.
    const SIZE: usize = 3000;
    let _one_at_a_time = FORKS.lock().unwrap_or_else(|p| p.into_inner());
    let keep = HeapBlock::new(SIZE).unwrap();
    let block = HeapBlock::new(SIZE).unwrap();
    let addr = block.as_ptr();
    // SAFETY: the block has SIZE bytes and nobody else uses it yet.
    unsafe { addr.write(42) };
    let dropped = Event::new().unwrap();
    let child = fork_with(
        &(block, dropped.clone()),
        |(block, dropped): (HeapBlock, Event)| {
            if dropped.wait_timeout(Duration::from_secs(20)).is_err() {
                return 1;
            }
            // SAFETY: the block is alive while we hold it.
            let value = unsafe { block.as_ptr().read() };
            i32::from(value != 42) * 2
        },
    );
    // Our handle went into the message: the child is now the only holder.
    dropped.set();
    assert_eq!(child.wait(), 0);
    let again = HeapBlock::new(SIZE).unwrap();
    assert_eq!(
        again.as_ptr(),
        addr,
        "the child freed the block into the shared free list"
    );
    // SAFETY: a reused block is handed out zeroed.
    assert_eq!(unsafe { again.as_ptr().read() }, 0);
    drop(keep);
}

#[test]
fn many_small_blocks_fill_and_refill_arenas() {
    let blocks: Vec<HeapBlock> = (0..5000)
        .map(|i| HeapBlock::new(8 + i % 200).unwrap())
        .collect();
    let mut addrs: Vec<usize> = blocks.iter().map(|b| b.as_ptr() as usize).collect();
    addrs.sort_unstable();
    addrs.dedup();
    assert_eq!(addrs.len(), blocks.len(), "no block is handed out twice");
    for b in &blocks {
        // SAFETY: every block has at least 8 bytes.
        unsafe { b.as_ptr().cast::<u64>().write_unaligned(b.as_ptr() as u64) };
    }
    for b in &blocks {
        // SAFETY: as above.
        let read = unsafe { b.as_ptr().cast::<u64>().read_unaligned() };
        assert_eq!(read, b.as_ptr() as u64);
    }
}

#[test]
fn shared_memory_is_attached_by_name_and_unlinked_once_by_its_creator() {
    let _one_at_a_time = FORKS.lock().unwrap_or_else(|p| p.into_inner());
    let shm = SharedMemory::create(4096).unwrap();
    let name = shm.name().to_owned();
    let n = name.clone();
    let child = fork(move || {
        let Ok(other) = SharedMemory::attach(&n) else {
            return 1;
        };
        if other.write_at(10, b"from child").is_err() {
            return 2;
        }
        drop(other); // an attached handle never unlinks
        0
    });
    assert_eq!(child.wait(), 0);
    let mut buf = [0u8; 10];
    shm.read_at(10, &mut buf).unwrap();
    assert_eq!(&buf, b"from child");
    assert!(std::path::Path::new("/dev/shm").join(&name).exists());
    // A forked copy of the creator does not unlink either: only the creating process does.
    let s = &shm;
    let child = fork(|| {
        let _ = s.name();
        0
    });
    assert_eq!(child.wait(), 0);
    assert!(std::path::Path::new("/dev/shm").join(&name).exists());
    drop(shm);
    assert!(!std::path::Path::new("/dev/shm").join(&name).exists());
}
