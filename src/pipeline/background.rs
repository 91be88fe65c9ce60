//! CPU work that must not slow inference down. Embedding is the bottleneck, and its ONNX
//! Runtime threads wait at every parallel section for the slowest of them: a chunking or
//! enrichment thread competing for the same cores stalls them all. Such work runs on a pool
//! of threads of its own, [`NICE`] steps nicer than the process, so it takes the cycles
//! inference leaves and yields the moment inference wants them. The pool is a separate tokio
//! blocking pool: its threads are reused (each thread allocating anew would spread memory over
//! more malloc arenas), and a call stuck past its time limit holds only its own thread.

use std::sync::OnceLock;

/// How much nicer than the process background threads are: CFS then gives them about a
/// tenth of a core's share when inference threads are runnable, and everything when they are
/// not.
pub const NICE: i32 = 10;

/// How long an idle pool thread waits for work before it exits (tokio's default is ten
/// seconds). Threads that come and go cost memory that stays behind: each `regex` keeps a
/// search cache (its lazy DFA, up to ~2 MB) per thread that has used it, pooled in up to
/// eight stacks by thread number, and a new thread fills a new one. With MiniLM, enrichment
/// comes in bursts tens of seconds apart; at a ten-second keep-alive every burst ran on new
/// threads, and jemalloc heap profiles of a `bench --scale 3` run put three quarters of the
/// live heap's growth over four documents (11.5 of 15.1 MB) in the enrichment regexes'
/// caches, the quiet RSS level climbing ~5 MB a minute at 10x (BENCHMARKS.md).
pub const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The runtime whose blocking pool runs background work; never driven, never dropped. `None`
/// if it could not be built: the work then runs on the shared blocking pool, at normal
/// priority.
fn pool() -> Option<&'static tokio::runtime::Runtime> {
    static POOL: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    POOL.get_or_init(|| build_pool().ok()).as_ref()
}

fn build_pool() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .thread_name("ingest-background")
        .thread_keep_alive(KEEP_ALIVE)
        .on_thread_start(lower_priority)
        .build()
}

/// Run `f` on a background thread; its result, or the panic message.
pub async fn run<T, F>(f: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let handle = match pool() {
        Some(rt) => rt.spawn_blocking(f),
        None => tokio::task::spawn_blocking(f),
    };
    handle.await.map_err(|e| {
        if e.is_panic() {
            format!("panicked: {}", crate::parse::panic_message(e.into_panic()))
        } else {
            e.to_string()
        }
    })
}

/// Lower this thread's priority by [`NICE`] (a new thread starts at its creator's; the
/// runtime calls this once per thread it starts). A failure leaves it as it is: only speed is
/// at stake.
fn lower_priority() {
    let nice = (current_nice() + NICE).min(19);
    // SAFETY: gettid has no preconditions; setpriority on our own thread id touches only it
    // (on Linux, PRIO_PROCESS with a thread id sets that thread's nice value).
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, nice);
    }
}

/// This thread's nice value.
fn current_nice() -> i32 {
    // SAFETY: as above; getpriority only reads.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::getpriority(libc::PRIO_PROCESS, tid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_at_lower_priority_and_the_caller_keeps_its_own() {
        let before = current_nice();
        let nice = run(current_nice).await.unwrap();
        assert_eq!(nice, (before + NICE).min(19));
        assert_eq!(current_nice(), before, "the calling thread is untouched");
    }

    /// Slow (11 s): the pool's threads must outlive tokio's default ten idle seconds.
    #[test]
    fn an_idle_thread_is_reused_after_tokios_default_keep_alive() {
        let pool = build_pool().unwrap();
        let on_pool = || {
            let handle = pool.spawn_blocking(|| std::thread::current().id());
            pool.block_on(handle).unwrap()
        };
        let first = on_pool();
        std::thread::sleep(std::time::Duration::from_secs(11));
        assert_eq!(
            on_pool(),
            first,
            "the idle thread exited and a new one took the work"
        );
    }

    #[tokio::test]
    async fn a_panic_is_an_error_with_its_message() {
        let err = run(|| -> u32 { panic!("boom") }).await.unwrap_err();
        assert!(err.contains("boom"), "{err}");
    }
}
