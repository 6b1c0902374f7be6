//! The heap gives memory back: a process unmaps an arena once its last block there drops.
//! (A test binary of its own, so no other test maps arenas meanwhile.)

use multiprocessing::runtime::heap::HeapBlock;
use multiprocessing_tests::helpers::heap_mappings;

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
