//! Both ends of a `Pipe` passed to a child as arguments, under each start method.

use multiprocessing::{Connection, StartMethod, get_context, pipe};
use multiprocessing_tests::per_method;

/// Answers each number with its double until it receives 0.
///
/// It stops on a message, not on end of file: under fork the child inherits the parent's end
/// as well, so the parent closing its copy would not end the stream (as in Python).
fn doubler(mut conn: Connection) -> u32 {
    let mut served = 0;
    loop {
        match conn.recv::<u64>().expect("a request") {
            0 => return served,
            x => conn.send(&(x * 2)).expect("answer the parent"),
        }
        served += 1;
    }
}

fn say_hello(mut writer: Connection) {
    writer.send("hello").expect("send on the write end");
}

fn read_one(mut reader: Connection) -> String {
    reader.recv().expect("receive on the read end")
}

fn duplex_end_serves_requests(method: StartMethod) {
    let (mut ours, theirs) = pipe(true).unwrap();
    let child = get_context(method).start(doubler, (theirs,)).unwrap();
    for x in [1u64, 21, 1 << 40] {
        ours.send(&x).unwrap();
        assert_eq!(ours.recv::<u64>().unwrap(), x * 2);
    }
    ours.send(&0u64).unwrap();
    assert_eq!(child.join().unwrap(), 3);
}

fn write_end_of_a_one_way_pipe(method: StartMethod) {
    let (mut reader, writer) = pipe(false).unwrap();
    let child = get_context(method).start(say_hello, (writer,)).unwrap();
    assert_eq!(reader.recv::<String>().unwrap(), "hello");
    child.join().unwrap();
}

fn read_end_of_a_one_way_pipe(method: StartMethod) {
    let (reader, mut writer) = pipe(false).unwrap();
    let child = get_context(method).start(read_one, (reader,)).unwrap();
    writer.send("from the parent").unwrap();
    assert_eq!(child.join().unwrap(), "from the parent");
}

per_method!(
    duplex_end_serves_requests,
    write_end_of_a_one_way_pipe,
    read_end_of_a_one_way_pipe
);
