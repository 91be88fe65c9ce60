//! CPU time of this process's threads, grouped by thread name, between two snapshots: where
//! the cycles of a benchmark run went (inference, background work, the database thread…).
//! Linux only (`/proc/self/task`); elsewhere a snapshot is `None`.

use std::collections::HashMap;

use serde::Serialize;

/// CPU time (user + system) per live thread, and of the whole process (which also counts
/// threads that have exited).
pub struct Snapshot {
    threads: HashMap<u32, (String, u64)>,
    process_ticks: u64,
}

/// CPU seconds spent by the threads of one name between two snapshots.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GroupCpu {
    pub name: String,
    pub threads: usize,
    pub secs: f64,
}

/// Where the CPU time between two snapshots went.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CpuReport {
    /// By thread name, most first.
    pub groups: Vec<GroupCpu>,
    /// Threads that exited between the snapshots (their names are gone with them).
    pub exited_secs: f64,
    pub total_secs: f64,
}

pub fn snapshot() -> Option<Snapshot> {
    let process_ticks = ticks_of(&std::fs::read_to_string("/proc/self/stat").ok()?)?.1;
    let mut threads = HashMap::new();
    for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        // A thread may exit between listing and reading: skip it.
        if let Some(t) = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .as_deref()
            .and_then(ticks_of)
        {
            threads.insert(tid, t);
        }
    }
    Some(Snapshot {
        threads,
        process_ticks,
    })
}

/// The name and utime + stime (clock ticks) from a `stat` line. The name is in parentheses
/// and may itself hold spaces and parentheses: the fields resume after the last `)`.
fn ticks_of(stat: &str) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // Fields 14 and 15 of proc(5); the first after the name is field 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

pub fn between(before: &Snapshot, after: &Snapshot) -> CpuReport {
    // SAFETY: sysconf only reads a configuration value.
    let hz = match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        n if n > 0 => n as f64,
        _ => 100.0,
    };
    let mut by_name: HashMap<&str, (usize, u64)> = HashMap::new();
    let mut live = 0u64;
    for (tid, (name, ticks)) in &after.threads {
        let earlier = before
            .threads
            .get(tid)
            .filter(|(n, _)| n == name)
            .map_or(0, |(_, t)| *t);
        let spent = ticks.saturating_sub(earlier);
        live += spent;
        let g = by_name.entry(name.as_str()).or_default();
        g.0 += 1;
        g.1 += spent;
    }
    let total = after.process_ticks.saturating_sub(before.process_ticks);
    let mut groups: Vec<GroupCpu> = by_name
        .into_iter()
        .filter(|(_, (_, t))| *t > 0)
        .map(|(name, (threads, t))| GroupCpu {
            name: name.to_string(),
            threads,
            secs: t as f64 / hz,
        })
        .collect();
    groups.sort_by(|a, b| b.secs.total_cmp(&a.secs).then(a.name.cmp(&b.name)));
    CpuReport {
        groups,
        exited_secs: total.saturating_sub(live) as f64 / hz,
        total_secs: total as f64 / hz,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let line = "4242 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 170 30 0 0 20 0 1 0";
        assert_eq!(ticks_of(line), Some(("a (b) c".to_string(), 200)));
        assert_eq!(ticks_of("4242 (x) S 1 2"), None);
    }

    #[test]
    fn a_busy_named_thread_shows_up_in_its_group() {
        let before = snapshot().expect("linux");
        let spin = std::thread::Builder::new()
            .name("cpu-test-spin".into())
            .spawn(|| {
                let t = std::time::Instant::now();
                let mut x = 0u64;
                while t.elapsed() < std::time::Duration::from_millis(300) {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                }
                x
            })
            .unwrap();
        // Measured while the thread is alive, then after it is gone.
        std::thread::sleep(std::time::Duration::from_millis(250));
        let alive = between(&before, &snapshot().unwrap());
        spin.join().unwrap();
        let gone = between(&before, &snapshot().unwrap());
        let g = alive
            .groups
            .iter()
            .find(|g| g.name == "cpu-test-spin")
            .expect("group of the spinning thread");
        assert!(g.secs >= 0.1, "{alive:?}");
        assert!(gone.groups.iter().all(|g| g.name != "cpu-test-spin"));
        assert!(gone.exited_secs >= 0.1, "{gone:?}");
        assert!(gone.total_secs >= gone.exited_secs);
    }
}
