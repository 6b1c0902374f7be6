//! An async service on tokio that hands its work to processes: a server accepts clients on a
//! `connection::tokio::Listener`, hands each request to a process `Pool` and `.await`s the
//! `AsyncResult` (no thread waits for it), answers the client, and records the request on a
//! `Queue` read by a logger process. The logger sets an `Event` once every request is recorded,
//! and the server stops on it.
//!
//! The `Queue`'s `put_async` and the `Event`'s `wait_async` are awaited too: no thread waits
//! for the logger.
//!
//! Run with `cargo run --example async_service --features tokio`. Prints the logger's records
//! (sorted), then each client's answers:
//!
//! ```text
//! logger: client 0 request 0: triangle(10) = 55
//! ...
//! logger: 9 requests recorded
//! client 0: [55, 210, 465]
//! client 1: [5050, 20100, 45150]
//! client 2: [500500, 2001000, 4501500]
//! server stopped after 9 requests
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use multiprocessing::connection::{AuthKey, Listener, tokio as mp};
use multiprocessing::{Error, Event, Pool, Process, Queue};

const CLIENTS: u32 = 3;
const REQUESTS: u32 = 3;

/// One served request: the client, its request number, the argument and the answer.
type Record = (u32, u32, u64, u64);

/// The work a request asks for, run in a pool worker.
fn triangle(n: u64) -> u64 {
    n * (n + 1) / 2
}

/// The logger process: prints the records in order once all have arrived, then sets `done`.
fn logger(records: Queue<Record>, done: Event, expected: u32) {
    let mut seen: Vec<Record> = (0..expected)
        .map(|_| records.get().expect("a record"))
        .collect();
    seen.sort_unstable();
    for (client, request, n, answer) in &seen {
        println!("logger: client {client} request {request}: triangle({n}) = {answer}");
    }
    println!("logger: {} requests recorded", seen.len());
    done.set();
}

/// The arguments client `c` sends: 10, 20, 30 for client 0; 100, 200, 300 for client 1, ...
fn argument(client: u32, request: u32) -> u64 {
    10u64.pow(client + 1) * u64::from(request + 1)
}

/// Serves one client: each request goes to the pool, its answer back to the client.
async fn serve(
    mut conn: mp::Connection,
    pool: Arc<Pool>,
    records: Queue<Record>,
    served: Arc<AtomicU32>,
) -> Result<(), Error> {
    // The client's end closing ends the loop.
    while let Ok((client, request, n)) = conn.recv::<(u32, u32, u64)>().await {
        let answer = pool.apply_async(triangle, (n,))?.await?;
        conn.send(&answer).await?;
        served.fetch_add(1, Ordering::Relaxed);
        records.put_async((client, request, n, answer)).await?;
    }
    Ok(())
}

/// A client: its requests one after another, their answers in order.
async fn client(
    address: multiprocessing::Address,
    key: AuthKey,
    id: u32,
) -> Result<Vec<u64>, Error> {
    let mut conn = mp::client(&address, Some(&key)).await?;
    let mut answers = Vec::new();
    for request in 0..REQUESTS {
        conn.send(&(id, request, argument(id, request))).await?;
        answers.push(conn.recv::<u64>().await?);
    }
    Ok(answers)
}

fn main() -> Result<(), Error> {
    // The processes start before the runtime: none of them inherits it.
    let pool = Arc::new(Pool::new(2)?);
    let records: Queue<Record> = Queue::new()?;
    let done = Event::new()?;
    let log = Process::new(logger, (records.clone(), done.clone(), CLIENTS * REQUESTS));
    log.start()?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let answers = rt.block_on(async {
        let key = AuthKey::new(b"async service".to_vec());
        let listener = mp::Listener::bind(Listener::builder().authkey(key.clone()))?;
        let address = listener.address().clone();
        let served = Arc::new(AtomicU32::new(0));

        let server = tokio::spawn({
            let (pool, served) = (Arc::clone(&pool), Arc::clone(&served));
            async move {
                let mut stop = std::pin::pin!(done.wait_async());
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            let conn = accepted?;
                            tokio::spawn(serve(conn, Arc::clone(&pool), records.clone(), Arc::clone(&served)));
                        }
                        _ = &mut stop => return Ok::<_, Error>(()),
                    }
                }
            }
        });

        let clients: Vec<_> = (0..CLIENTS)
            .map(|id| tokio::spawn(client(address.clone(), key.clone(), id)))
            .collect();
        let mut answers = Vec::new();
        for c in clients {
            answers.push(c.await.expect("a client does not panic")?);
        }
        server.await.expect("the server does not panic")?;
        Ok::<_, Error>((answers, served.load(Ordering::Relaxed)))
    })?;

    let (answers, served) = answers;
    for (id, got) in answers.iter().enumerate() {
        println!("client {id}: {got:?}");
    }
    println!("server stopped after {served} requests");
    log.join()?;
    pool.close();
    pool.join()?;
    Ok(())
}
