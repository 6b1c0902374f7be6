//! Python's example of "using queues to feed tasks to a collection of worker processes and
//! collect the results": four workers take tasks from one queue until they meet `STOP`, and
//! put their results on another.
//!
//! ```python
//! import time
//! import random
//!
//! from multiprocessing import Process, Queue, current_process, freeze_support
//!
//! def worker(input, output):
//!     for func, args in iter(input.get, 'STOP'):
//!         result = calculate(func, args)
//!         output.put(result)
//!
//! def calculate(func, args):
//!     result = func(*args)
//!     return '%s says that %s%s = %s' % \
//!         (current_process().name, func.__name__, args, result)
//!
//! def mul(a, b):
//!     time.sleep(0.5*random.random())
//!     return a * b
//!
//! def plus(a, b):
//!     time.sleep(0.5*random.random())
//!     return a + b
//!
//! def test():
//!     NUMBER_OF_PROCESSES = 4
//!     TASKS1 = [(mul, (i, 7)) for i in range(20)]
//!     TASKS2 = [(plus, (i, 8)) for i in range(10)]
//!
//!     # Create queues
//!     task_queue = Queue()
//!     done_queue = Queue()
//!
//!     # Submit tasks
//!     for task in TASKS1:
//!         task_queue.put(task)
//!
//!     # Start worker processes
//!     for i in range(NUMBER_OF_PROCESSES):
//!         Process(target=worker, args=(task_queue, done_queue)).start()
//!
//!     # Get and print results
//!     print('Unordered results:')
//!     for i in range(len(TASKS1)):
//!         print('\t', done_queue.get())
//!
//!     # Add more tasks using `put()`
//!     for task in TASKS2:
//!         task_queue.put(task)
//!
//!     # Get and print some more results
//!     for i in range(len(TASKS2)):
//!         print('\t', done_queue.get())
//!
//!     # Tell child processes to stop
//!     for i in range(NUMBER_OF_PROCESSES):
//!         task_queue.put('STOP')
//!
//! if __name__ == '__main__':
//!     freeze_support()
//!     test()
//! ```
//!
//! Prints `Unordered results:`, then 20 lines such as `\t Process-3 says that mul(4, 7) = 28`
//! and 10 such as `\t Process-1 says that plus(2, 8) = 10`, in the order the workers finish.
//!
//! Python's tasks carry the function itself; here a task names one of two functions, and the
//! `STOP` sentinel is a variant of the task type. The random sleeps are a tenth of Python's,
//! enough to shuffle the results while keeping the example quick.

use std::time::Duration;

use multiprocessing::{Process, Queue, current_process, freeze_support};
use serde::{Deserialize, Serialize};

/// A function a task can call, known by its name as Python's `func.__name__`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
enum Func {
    Mul,
    Plus,
}

impl Func {
    fn name(self) -> &'static str {
        match self {
            Func::Mul => "mul",
            Func::Plus => "plus",
        }
    }

    fn call(self, (a, b): (i64, i64)) -> i64 {
        match self {
            Func::Mul => mul(a, b),
            Func::Plus => plus(a, b),
        }
    }
}

/// What the task queue carries: a call to make, or Python's `'STOP'`.
#[derive(Debug, Serialize, Deserialize)]
enum Task {
    Call(Func, (i64, i64)),
    Stop,
}

/// Function run by worker processes.
fn worker(input: Queue<Task>, output: Queue<String>) {
    // Python's `iter(input.get, 'STOP')`.
    for task in input.iter() {
        let Task::Call(func, args) = task else { break };
        let result = calculate(func, args);
        output.put(result).expect("put a result");
    }
}

/// Function used to calculate result.
fn calculate(func: Func, args: (i64, i64)) -> String {
    let result = func.call(args);
    format!(
        "{} says that {}{:?} = {}",
        current_process().name(),
        func.name(),
        args,
        result
    )
}

/// Sleeps up to 50 ms (Python: `time.sleep(0.5*random.random())`).
fn nap() {
    std::thread::sleep(Duration::from_secs_f64(0.05 * rand::random::<f64>()));
}

fn mul(a: i64, b: i64) -> i64 {
    nap();
    a * b
}

fn plus(a: i64, b: i64) -> i64 {
    nap();
    a + b
}

fn test() -> Result<(), multiprocessing::Error> {
    const NUMBER_OF_PROCESSES: usize = 4;
    let tasks1: Vec<Task> = (0..20).map(|i| Task::Call(Func::Mul, (i, 7))).collect();
    let tasks2: Vec<Task> = (0..10).map(|i| Task::Call(Func::Plus, (i, 8))).collect();
    let (n1, n2) = (tasks1.len(), tasks2.len());

    // Create queues
    let task_queue = Queue::new()?;
    let done_queue = Queue::<String>::new()?;

    // Submit tasks
    for task in tasks1 {
        task_queue.put(task)?;
    }

    // Start worker processes
    let mut workers = Vec::new();
    for _ in 0..NUMBER_OF_PROCESSES {
        let p = Process::new(worker, (task_queue.clone(), done_queue.clone()));
        p.start()?;
        workers.push(p);
    }

    // Get and print results
    println!("Unordered results:");
    for _ in 0..n1 {
        println!("\t {}", done_queue.get()?);
    }

    // Add more tasks using `put()`
    for task in tasks2 {
        task_queue.put(task)?;
    }

    // Get and print some more results
    for _ in 0..n2 {
        println!("\t {}", done_queue.get()?);
    }

    // Tell child processes to stop
    for _ in 0..NUMBER_OF_PROCESSES {
        task_queue.put(Task::Stop)?;
    }
    // Python joins its children at exit; here, explicitly.
    for p in workers {
        p.join()?;
    }
    Ok(())
}

fn main() -> Result<(), multiprocessing::Error> {
    freeze_support();
    test()
}
