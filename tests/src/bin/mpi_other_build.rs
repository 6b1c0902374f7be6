//! Another executable that serves an MPI pool: started beside `mpi_scenarios` under `mpirun`
//! (MPMD), so rank 0 must refuse it (its fingerprint differs) before sending it any task.

fn main() {
    match multiprocessing::MpiPool::new() {
        // Never here on a worker rank: it serves (or is refused) and exits inside `new`.
        Ok(_) => eprintln!("mpi_other_build ran as rank 0"),
        Err(e) => eprintln!("mpi_other_build: {e}"),
    }
}
