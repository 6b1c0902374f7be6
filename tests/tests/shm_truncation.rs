//! A named segment that another process truncates is an error through the safe API, never a
//! SIGBUS that kills the reader.

use std::io::ErrorKind;

use multiprocessing::runtime::Error;
use multiprocessing::{SharedMemory, StartMethod, get_context};
use multiprocessing_tests::per_method;

/// What a hostile process with access to the name can do: shrink the file to nothing.
fn truncate_to_zero(name: String) -> i32 {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(std::path::Path::new("/dev/shm").join(name))
        .unwrap();
    file.set_len(0).unwrap();
    0
}

fn is_truncated(r: multiprocessing::runtime::Result<()>) -> bool {
    matches!(r, Err(Error::Io(e)) if e.kind() == ErrorKind::UnexpectedEof)
}

fn safe_access_to_a_segment_another_process_truncated_is_an_error(method: StartMethod) {
    let shm = SharedMemory::create(3 * 4096).unwrap();
    shm.write_at(5000, b"before").unwrap();
    let mut buf = [0u8; 6];
    shm.read_at(5000, &mut buf).unwrap();
    assert_eq!(&buf, b"before");
    let child = get_context(method)
        .start(truncate_to_zero, (shm.name().to_owned(),))
        .unwrap();
    assert_eq!(child.join().unwrap(), 0);
    // Every page is now past the end of the file: touching the mapping would raise SIGBUS.
    assert!(is_truncated(shm.read_at(5000, &mut buf)));
    assert!(is_truncated(shm.read_at(0, &mut [0u8; 1])));
    assert!(is_truncated(shm.write_at(5000, b"after")));
    // The failed write did not grow the file back.
    let len = std::fs::metadata(std::path::Path::new("/dev/shm").join(shm.name()))
        .unwrap()
        .len();
    assert_eq!(len, 0);
    assert!(SharedMemory::attach(shm.name()).is_err());
}

per_method!(safe_access_to_a_segment_another_process_truncated_is_an_error);
