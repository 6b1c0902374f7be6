//! The facade: its `Context` makes every object of the library under each start method, and
//! `use multiprocessing::*` (the import a Python user writes first) leaves Rust's names alone.

use multiprocessing::*;
use multiprocessing_tests::helpers::BOUND;
use multiprocessing_tests::per_method;

/// What the child is handed: one of everything a context makes.
type Kit = (
    Connection,
    Lock,
    RLock,
    Semaphore,
    BoundedSemaphore,
    Event,
    Barrier,
    Condition<RLock>,
    Value<u64>,
    Array<i32>,
    RawValue<u32>,
    RawArray<u8>,
);

/// Uses every object of the kit, and reports what it saw of its own context.
fn use_the_kit(kit: Kit) -> (String, bool) {
    let (mut conn, lock, rlock, sem, bounded, event, barrier, cond, value, array, raw, raw_array) =
        kit;
    let n: u64 = conn.recv().expect("a number from the parent");
    {
        let _g = lock.lock().expect("the lock");
        let _r = rlock.lock().expect("the rlock");
        value.update(|v| *v += n).expect("the value");
        array
            .update(|a| a.iter_mut().for_each(|x| *x *= 2))
            .expect("the array");
        raw.set(raw.get() + 1);
        raw_array.write(0, &[9]).expect("the raw array");
    }
    sem.release().expect("the semaphore");
    bounded.acquire(true, None);
    {
        let _g = cond.lock().expect("the condition's lock");
        cond.notify_all();
    }
    event.set();
    barrier.wait_timeout(BOUND).expect("the barrier");
    let here = current_process();
    (
        here.name().to_string(),
        parent_process().is_some_and(|p| p.pid() == std::os::unix::process::parent_id()),
    )
}

fn a_context_makes_everything_a_child_can_use(method: StartMethod) {
    let ctx = get_context(method);
    assert_eq!(ctx.get_start_method(), method);
    let (mut ours, theirs) = ctx.pipe(true).unwrap();
    let (lock, rlock) = (ctx.lock().unwrap(), ctx.rlock().unwrap());
    let (sem, bounded) = (ctx.semaphore(0).unwrap(), ctx.bounded_semaphore(1).unwrap());
    let (event, barrier, cond) = (
        ctx.event().unwrap(),
        ctx.barrier(2).unwrap(),
        ctx.condition().unwrap(),
    );
    let (value, array) = (ctx.value(1u64).unwrap(), ctx.array(&[1i32, 2, 3]).unwrap());
    let (raw, raw_array) = (
        ctx.raw_value(5u32).unwrap(),
        ctx.raw_array(&[0u8; 2]).unwrap(),
    );
    let kit: Kit = (
        theirs,
        lock.clone(),
        rlock.clone(),
        sem.clone(),
        bounded.clone(),
        event.clone(),
        barrier.clone(),
        cond.clone(),
        value.clone(),
        array.clone(),
        raw.clone(),
        raw_array.clone(),
    );
    let child = ctx.start(use_the_kit, (kit,)).unwrap();
    ours.send(&41u64).unwrap();
    barrier.wait_timeout(BOUND).unwrap();
    let (name, parent_ok) = child.join().unwrap();
    assert!(name.contains("Process-"), "{name}");
    assert!(parent_ok, "the child's parent is this process");
    assert!(event.is_set());
    sem.acquire_timeout(BOUND)
        .expect("the child released the semaphore");
    assert_eq!(
        bounded.get_value(),
        0,
        "the child took the bounded semaphore's unit"
    );
    assert_eq!(value.get().unwrap(), 42);
    assert_eq!(array.to_vec().unwrap(), [2, 4, 6]);
    assert_eq!(raw.get(), 6);
    assert_eq!(raw_array.to_vec(), [9, 0]);
    assert!(!lock.is_locked());
}

fn a_context_starts_processes_by_its_method(method: StartMethod) {
    let ctx = get_context(method);
    let p = ctx.process(exit_with, (7,)).start().unwrap();
    assert_eq!(p.join().unwrap(), 7);
    let expected = match method {
        StartMethod::Fork => "ForkProcess-",
        StartMethod::Spawn => "SpawnProcess-",
        StartMethod::ForkServer => "ForkServerProcess-",
    };
    assert!(p.name().starts_with(expected), "{}", p.name());
    // The process crate's own builder takes the context inside.
    let p = ProcessBuilder::new(exit_with, (3,))
        .context(ctx.as_process())
        .start()
        .unwrap();
    assert_eq!(p.join().unwrap(), 3);
    assert_eq!(ctx.get_context(method).get_start_method(), method);
}

/// What a child is handed to exercise a context's queues.
type Queues = (
    Queue<u32>,
    Queue<u32>,
    SimpleQueue<String>,
    JoinableQueue<u32>,
);

/// Echoes through each queue kind: doubles what the first queue holds into the bounded one,
/// answers on the simple queue, and marks the joinable queue's items done.
fn use_the_queues((q, bounded, simple, joinable): Queues) {
    for _ in 0..3 {
        let n = q.get_timeout(BOUND).expect("an item from the parent");
        bounded.put(n * 2).expect("room in the bounded queue");
    }
    simple.put("hello".to_string()).expect("the simple queue");
    while let Ok(n) = joinable.get_timeout(BOUND) {
        assert!(n < 5);
        joinable.task_done().expect("an item was taken");
        if n == 4 {
            break;
        }
    }
}

fn a_context_makes_queues_a_child_can_use(method: StartMethod) {
    let ctx = get_context(method);
    let q = ctx.queue::<u32>().unwrap();
    let bounded = ctx.queue_with_maxsize::<u32>(1).unwrap();
    assert_eq!(bounded.maxsize(), 1);
    let built = ctx.queue_builder::<u32>().maxsize(2).build().unwrap();
    assert_eq!(built.maxsize(), 2);
    let simple = ctx.simple_queue::<String>().unwrap();
    let joinable = ctx.joinable_queue::<u32>().unwrap();
    let kit: Queues = (q.clone(), bounded.clone(), simple.clone(), joinable.clone());
    let child = ctx.start(use_the_queues, (kit,)).unwrap();
    for n in 1..=3 {
        q.put(n).unwrap();
    }
    // The child's puts into a queue of one item wait for these gets: FIFO, in its order.
    let got: Vec<u32> = (0..3)
        .map(|_| bounded.get_timeout(BOUND).unwrap())
        .collect();
    assert_eq!(got, [2, 4, 6]);
    assert_eq!(simple.get().unwrap(), "hello");
    for n in 0..5 {
        joinable.put(n).unwrap();
    }
    joinable
        .join_timeout(BOUND)
        .expect("the child marked every item done");
    child.join().unwrap();
}

fn exit_with(code: i32) {
    std::process::exit(code)
}

fn square(x: u64) -> u64 {
    x * x
}

per_method!(
    a_context_makes_everything_a_child_can_use,
    a_context_starts_processes_by_its_method,
    a_context_makes_queues_a_child_can_use,
);

#[test]
fn start_is_thread_spawn_for_a_process_under_the_default_context() {
    assert_eq!(start(square, (12,)).unwrap().join().unwrap(), 144);
    assert_eq!(
        default_context().get_start_method(),
        get_start_method(),
        "the default context is the module-level functions' one"
    );
}

#[test]
fn context_conversions_keep_the_start_method() {
    let ctx = Context::new(StartMethod::Spawn);
    let inner: process::Context = ctx.clone().into();
    assert_eq!(inner.get_start_method(), StartMethod::Spawn);
    let back = Context::from(inner);
    assert_eq!(back.get_start_method(), StartMethod::Spawn);
    assert_eq!(
        AsRef::<process::Context>::as_ref(&ctx).get_start_method(),
        StartMethod::Spawn
    );
    assert!(ctx.cpu_count().unwrap() >= 1);
    assert_eq!(ctx.current_process().name(), "MainProcess");
    assert!(ctx.parent_process().is_none());
    assert!(format!("{ctx:?}").contains("Spawn"));
}

/// The glob import brings no `core` (nor any other name) that hides Rust's own.
#[test]
fn the_glob_import_leaves_rusts_core_alone() {
    assert_eq!(core::mem::size_of::<u32>(), 4);
    assert_eq!(::core::cmp::max(1, 2), 2);
    let _ = runtime::identity::current();
}
