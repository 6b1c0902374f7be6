//! Forking a process that has other threads logs a warning (target `multiprocessing`), and a
//! process is a `Send + Sync` handle.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, mpsc};

use multiprocessing_process::{JoinHandle, Process, StartMethod, get_context};
use tracing::field::{Field, Visit};
use tracing::{Event, Metadata, Subscriber, span};

/// Records `(target, message)` of every event.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<(String, String)>>>);

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        }
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut m = Message(String::new());
        event.record(&mut m);
        self.0
            .lock()
            .unwrap()
            .push((event.metadata().target().to_string(), m.0));
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

fn nothing() {}

#[test]
fn fork_with_other_threads_warns() {
    let (stop, wait) = mpsc::channel::<()>();
    let (ready, is_ready) = mpsc::channel::<()>();
    let helper = std::thread::spawn(move || {
        ready.send(()).unwrap();
        let _ = wait.recv();
    });
    is_ready.recv().unwrap();
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.clone(), || {
        let p = get_context(StartMethod::Fork)
            .process(nothing, ())
            .start()
            .unwrap();
        assert_eq!(p.join().unwrap(), 0);
    });
    stop.send(()).unwrap();
    helper.join().unwrap();
    let events = capture.0.lock().unwrap();
    assert!(
        events
            .iter()
            .any(|(target, msg)| target == "multiprocessing" && msg.contains("threads")),
        "{events:?}"
    );
}

#[test]
fn handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Process>();
    check::<JoinHandle<String>>();
    check::<multiprocessing_process::Context>();
}

#[test]
fn capture_free_closures_are_targets() {
    let ctx = get_context(StartMethod::Spawn);
    let h = ctx
        .spawn(|a: u32, b: String| format!("{b}{a}"), (7, "x".to_string()))
        .unwrap();
    assert_eq!(h.join().unwrap(), "x7");
}
