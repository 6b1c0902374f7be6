//! Starting workers at run time: `MPI_Comm_spawn` of this executable, with errors returned
//! rather than fatal, and more workers than free slots allowed (rank 0 mostly waits).
//!
//! rsmpi's `spawn` passes no info object and keeps MPI's default error handler (an error
//! aborts the job), so the call is made here through its raw bindings.

use std::ffi::{CString, c_char, c_int};
use std::path::Path;

use mpi::ffi;
use mpi::raw::FromRaw;
use mpi::topology::{InterCommunicator, Rank};

/// Spawns `n` copies of `program` with `args` from this rank alone (`MPI_COMM_SELF`), allowing
/// more processes than slots; the intercommunicator to them, or why not.
pub(crate) fn spawn(program: &Path, args: &[String], n: Rank) -> Result<InterCommunicator, String> {
    let to_c = |s: &str| CString::new(s).map_err(|_| format!("a NUL byte in {s:?}"));
    let program = to_c(&program.to_string_lossy())?;
    let args: Vec<CString> = args.iter().map(|a| to_c(a)).collect::<Result<_, _>>()?;
    let mut argv: Vec<*mut c_char> = args
        .iter()
        .map(|a| a.as_ptr().cast_mut())
        .chain(std::iter::once(std::ptr::null_mut()))
        .collect();
    let key = to_c("map_by")?;
    let value = to_c("slot:OVERSUBSCRIBE")?;
    let mut errcodes: Vec<c_int> = vec![0; usize::try_from(n).unwrap_or(0)];
    // SAFETY: plain MPI calls on this thread (the one that initialized MPI); every pointer
    // passed (program, the NUL-terminated argv of live CStrings, the info's key and value,
    // the errcodes of `n` entries, the out-parameters) outlives the call that reads it, and
    // the info object is freed once.
    unsafe {
        ffi::MPI_Comm_set_errhandler(ffi::RSMPI_COMM_SELF, ffi::RSMPI_ERRORS_RETURN);
        let mut info = ffi::RSMPI_INFO_NULL;
        ffi::MPI_Info_create(&mut info);
        ffi::MPI_Info_set(info, key.as_ptr(), value.as_ptr());
        let mut inter = ffi::RSMPI_COMM_NULL;
        let rc = ffi::MPI_Comm_spawn(
            program.as_ptr(),
            argv.as_mut_ptr(),
            n,
            info,
            0,
            ffi::RSMPI_COMM_SELF,
            &mut inter,
            errcodes.as_mut_ptr(),
        );
        ffi::MPI_Info_free(&mut info);
        let failed = errcodes.iter().filter(|&&c| c != 0).count();
        if rc != 0 || failed > 0 {
            return Err(format!(
                "MPI_Comm_spawn failed (error {rc}; {failed} of {n} workers not started)"
            ));
        }
        Ok(InterCommunicator::from_raw(inter))
    }
}
