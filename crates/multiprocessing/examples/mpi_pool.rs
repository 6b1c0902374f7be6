//! The sum of squares on an MPI pool, and how the work spread over the worker ranks.
//!
//! Run alone, it spawns its workers (`MPI_Comm_spawn`); under `mpirun -n 3` it uses ranks 1
//! and 2. Change the marked line to `Pool::new(2)?` and the same program runs on a local pool.
//!
//! ```text
//! $ cargo run --example mpi_pool --features mpi
//! $ mpirun -n 3 target/debug/examples/mpi_pool
//! sum of squares = 332833500
//! MpiWorker-1: 500 items
//! MpiWorker-2: 500 items
//! ```

use std::collections::BTreeMap;

use multiprocessing::MpiPool;

/// The square of `x`, and the worker that computed it.
fn square(x: u64) -> (String, u64) {
    (multiprocessing::current_process().name().to_string(), x * x)
}

fn main() -> Result<(), multiprocessing::Error> {
    // The other ranks (or spawned workers) serve tasks inside this call and exit there.
    let pool = MpiPool::builder().processes(2).build()?; // or: multiprocessing::Pool::new(2)?
    let results = pool.map(square, 0..1000)?;
    println!(
        "sum of squares = {}",
        results.iter().map(|(_, sq)| sq).sum::<u64>()
    );
    let mut per_worker: BTreeMap<String, usize> = BTreeMap::new();
    for (worker, _) in results {
        *per_worker.entry(worker).or_default() += 1;
    }
    for (worker, items) in per_worker {
        println!("{worker}: {items} items");
    }
    pool.close();
    pool.join()?;
    Ok(())
}
