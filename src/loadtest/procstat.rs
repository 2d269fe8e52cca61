//! What `/proc` says about the server: CPU time and memory of the server process and of its
//! embedded PostgreSQL (counted apart), the process listening on a port, and the machine
//! (cores, CPU model, memory, load). Parsers are pure functions over the files' text.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// The fields of `/proc/<pid>/stat` we use (proc(5)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Process id.
    pub pid: u32,
    /// Parent's process id.
    pub ppid: u32,
    /// User-mode CPU time, clock ticks.
    pub utime: u64,
    /// Kernel-mode CPU time, clock ticks.
    pub stime: u64,
    /// User time of waited-for children, clock ticks.
    pub cutime: u64,
    /// Kernel time of waited-for children, clock ticks.
    pub cstime: u64,
    /// Threads.
    pub num_threads: u64,
}

impl ProcStat {
    /// CPU ticks of the process and of its reaped children: a child's time moves into its
    /// parent's `cutime`/`cstime` when reaped, so a sum over a process tree never loses it.
    pub fn ticks_with_reaped(&self) -> u64 {
        self.utime
            .saturating_add(self.stime)
            .saturating_add(self.cutime)
            .saturating_add(self.cstime)
    }
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) may hold spaces and parentheses, so
/// fields are counted from its last `)`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text.get(..open)?.trim().parse().ok()?;
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state); field n is rest[n - 3].
    let field = |n: usize| -> Option<u64> { rest.get(n - 3)?.parse().ok() };
    Some(ProcStat {
        pid,
        ppid: u32::try_from(field(4)?).ok()?,
        utime: field(14)?,
        stime: field(15)?,
        cutime: field(16)?,
        cstime: field(17)?,
        num_threads: field(20)?,
    })
}

/// A `kB` value of `/proc/<pid>/status` or `/proc/meminfo` (e.g. `VmRSS`, `MemTotal`).
pub fn parse_kb_field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        if key.trim() != name {
            return None;
        }
        value.split_whitespace().next()?.parse().ok()
    })
}

/// The three load averages of `/proc/loadavg`.
pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// The first `model name` of `/proc/cpuinfo`.
pub fn parse_cpu_model(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_string())
    })
}

/// Socket inodes listening on `port` in a `/proc/net/tcp` or `/proc/net/tcp6` table.
pub fn parse_listening_inodes(table: &str, port: u16) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local = f.get(1)?;
            let (_, port_hex) = local.rsplit_once(':')?;
            let p = u16::from_str_radix(port_hex, 16).ok()?;
            // State 0A is TCP_LISTEN.
            (p == port && *f.get(3)? == "0A").then(|| f.get(9)?.parse().ok())?
        })
        .collect()
}

/// Parses the first line of PostgreSQL's `postmaster.pid`: the postmaster's pid.
pub fn parse_postmaster_pid(text: &str) -> Option<u32> {
    text.lines().next()?.trim().parse().ok()
}

/// The value of `name` in a NUL-separated `/proc/<pid>/environ`.
pub fn parse_environ(bytes: &[u8], name: &str) -> Option<String> {
    bytes.split(|b| *b == 0).find_map(|kv| {
        let kv = std::str::from_utf8(kv).ok()?;
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// Every process id in `/proc` with its stat (processes that vanish meanwhile are skipped).
pub fn all_processes() -> Vec<ProcStat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let name = e.ok()?.file_name();
        let pid: u32 = name.to_str()?.parse().ok()?;
        read_stat(pid)
    })
    .collect()
}

/// `/proc/<pid>/stat`, parsed.
pub fn read_stat(pid: u32) -> Option<ProcStat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `roots` and all their descendants, from a process list.
pub fn descendants(procs: &[ProcStat], roots: &[u32]) -> BTreeSet<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for p in procs {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    let alive: BTreeSet<u32> = procs.iter().map(|p| p.pid).collect();
    let mut out = BTreeSet::new();
    let mut stack: Vec<u32> = roots
        .iter()
        .copied()
        .filter(|r| alive.contains(r))
        .collect();
    while let Some(pid) = stack.pop() {
        if out.insert(pid) {
            stack.extend(children.get(&pid).into_iter().flatten().copied());
        }
    }
    out
}

/// The process listening on TCP `port` (IPv4 or IPv6), found through its socket inode.
pub fn find_listener(port: u16) -> Option<u32> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(table) {
            inodes.extend(parse_listening_inodes(&text, port));
        }
    }
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    for p in all_processes() {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{}/fd", p.pid)) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path())
                && wanted.iter().any(|w| target.as_os_str() == w.as_str())
            {
                return Some(p.pid);
            }
        }
    }
    None
}

/// The data directory of a running notarium: its `NOTARIUM_DATA_DIR`, else `./var` from its
/// working directory (the default). `None` when it uses an external `DATABASE_URL`.
pub fn server_data_dir(pid: u32) -> Option<PathBuf> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    if parse_environ(&env, "DATABASE_URL").is_some_and(|v| !v.is_empty()) {
        return None;
    }
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
    let dir = parse_environ(&env, "NOTARIUM_DATA_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("./var"));
    Some(cwd.join(dir))
}

/// The postmaster of the embedded cluster under a notarium data directory, if running.
pub fn embedded_postmaster(data_dir: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(data_dir.join("pg/data/postmaster.pid")).ok()?;
    let pid = parse_postmaster_pid(&text)?;
    read_stat(pid).map(|_| pid)
}

/// The processes watched: the server, and the database (postmaster and backends). The
/// embedded postmaster is started by `pg_ctl`, so it is not the server's child: it is found
/// through `postmaster.pid`.
#[derive(Debug, Clone)]
pub struct Watched {
    /// The server's pid.
    pub server: u32,
    /// The postmaster's pid, if any.
    pub postmaster: Option<u32>,
}

/// CPU ticks and memory of a group of processes at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupSample {
    /// Processes in the group.
    pub processes: usize,
    /// Sum of CPU ticks (own and reaped children's).
    pub ticks: u64,
    /// Sum of VmRSS, kB (shared memory is counted once per process mapping it).
    pub rss_kb: u64,
    /// Sum of RssAnon, kB (private memory).
    pub rss_anon_kb: u64,
    /// The largest VmHWM (peak RSS) of one process, kB.
    pub peak_rss_kb: u64,
}

/// A sample of the server group and the database group.
#[derive(Debug, Clone, Copy, Default)]
pub struct UsageSample {
    /// The server process (and any child that is not the database).
    pub server: GroupSample,
    /// The database processes.
    pub database: GroupSample,
}

impl Watched {
    /// Samples both groups now.
    pub fn sample(&self) -> UsageSample {
        let procs = all_processes();
        let db = self
            .postmaster
            .map(|p| descendants(&procs, &[p]))
            .unwrap_or_default();
        let server: BTreeSet<u32> = descendants(&procs, &[self.server])
            .into_iter()
            .filter(|p| !db.contains(p))
            .collect();
        UsageSample {
            server: group_sample(&procs, &server),
            database: group_sample(&procs, &db),
        }
    }
}

fn group_sample(procs: &[ProcStat], pids: &BTreeSet<u32>) -> GroupSample {
    let mut g = GroupSample::default();
    for p in procs.iter().filter(|p| pids.contains(&p.pid)) {
        g.processes += 1;
        g.ticks = g.ticks.saturating_add(p.ticks_with_reaped());
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", p.pid)) {
            g.rss_kb += parse_kb_field(&status, "VmRSS").unwrap_or(0);
            g.rss_anon_kb += parse_kb_field(&status, "RssAnon").unwrap_or(0);
            g.peak_rss_kb = g
                .peak_rss_kb
                .max(parse_kb_field(&status, "VmHWM").unwrap_or(0));
        }
    }
    g
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
pub fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf reads a constant; no memory is passed.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(t).ok().filter(|t| *t > 0).unwrap_or(100)
}

/// The machine a figure was measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Online CPUs.
    pub cores: usize,
    /// `model name` of /proc/cpuinfo.
    pub cpu_model: String,
    /// MemTotal, kB.
    pub mem_total_kb: u64,
    /// Load averages (1, 5, 15 min) when the run started.
    pub load_before: [f64; 3],
    /// Load averages when it ended.
    pub load_after: [f64; 3],
}

/// Reads the machine's description; load_after is filled in at the end.
pub fn machine() -> Machine {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    Machine {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_model: parse_cpu_model(&read("/proc/cpuinfo")).unwrap_or_else(|| "unknown".into()),
        mem_total_kb: parse_kb_field(&read("/proc/meminfo"), "MemTotal").unwrap_or(0),
        load_before: loadavg(),
        load_after: [0.0; 3],
    }
}

/// The load averages now.
pub fn loadavg() -> [f64; 3] {
    parse_loadavg(&std::fs::read_to_string("/proc/loadavg").unwrap_or_default()).unwrap_or([0.0; 3])
}

/// Pins every thread of this process to `cpus` (threads started later inherit it).
pub fn pin_this_process(cpus: &[usize]) -> std::io::Result<()> {
    // SAFETY: cpu_set_t is plain data; CPU_ZERO/CPU_SET write inside it; sched_setaffinity
    // reads `size_of` bytes of it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        for task in std::fs::read_dir("/proc/self/task")?.flatten() {
            let Some(tid) = task
                .file_name()
                .to_str()
                .and_then(|t| t.parse::<i32>().ok())
            else {
                continue;
            };
            if libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real line of /proc/<pid>/stat (postgres backend), with a command name holding spaces
    /// and a parenthesis to check the field counting.
    const STAT: &str = "4242 (postgres: x) y) S 4100 4100 4100 0 -1 4194560 1543 0 0 0 \
                        250 75 12 3 20 0 1 0 123456 219803648 4012 18446744073709551615 \
                        1 1 0 0 0 0 0 4096 536890375 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let s = parse_stat(STAT).unwrap();
        assert_eq!(s.pid, 4242);
        assert_eq!(s.ppid, 4100);
        assert_eq!((s.utime, s.stime, s.cutime, s.cstime), (250, 75, 12, 3));
        assert_eq!(s.num_threads, 1);
        assert_eq!(s.ticks_with_reaped(), 340);
        assert_eq!(parse_stat("12 (x"), None);
        assert_eq!(parse_stat("12 (x) S 1 2"), None);
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn own_stat_parses_and_matches_the_real_pid() {
        let me = std::process::id();
        let s = read_stat(me).unwrap();
        assert_eq!(s.pid, me);
        assert!(s.num_threads >= 1);
    }

    #[test]
    fn status_and_meminfo_fields() {
        let status =
            "Name:\tnotarium\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nRssAnon:\t 4096 kB\n";
        assert_eq!(parse_kb_field(status, "VmRSS"), Some(10240));
        assert_eq!(parse_kb_field(status, "VmHWM"), Some(20480));
        assert_eq!(parse_kb_field(status, "RssAnon"), Some(4096));
        assert_eq!(parse_kb_field(status, "VmSwap"), None);
        // A key that is a prefix of another does not match it.
        assert_eq!(parse_kb_field("VmRSSx: 5 kB\n", "VmRSS"), None);
        assert_eq!(
            parse_kb_field("MemTotal:       24605124 kB\n", "MemTotal"),
            Some(24605124)
        );
    }

    #[test]
    fn loadavg_cpuinfo_postmaster_environ() {
        assert_eq!(
            parse_loadavg("4.31 3.36 2.32 3/512 1234\n"),
            Some([4.31, 3.36, 2.32])
        );
        assert_eq!(parse_loadavg("4.31"), None);
        let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(parse_cpu_model(cpuinfo).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(
            parse_postmaster_pid("8123\n/var/pg/data\n1700000000\n"),
            Some(8123)
        );
        assert_eq!(parse_postmaster_pid("x\n"), None);
        let env = b"PATH=/bin\0NOTARIUM_DATA_DIR=/srv/n\0EMPTY=\0";
        assert_eq!(
            parse_environ(env, "NOTARIUM_DATA_DIR").as_deref(),
            Some("/srv/n")
        );
        assert_eq!(parse_environ(env, "EMPTY").as_deref(), Some(""));
        assert_eq!(parse_environ(env, "NOTARIUM"), None);
    }

    #[test]
    fn listening_sockets_by_port() {
        // Layout of /proc/net/tcp: 127.0.0.1:8080 listening (0A), and an established
        // connection from the same port that must not count.
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 55501 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 55502 1 0000000000000000 20 4 30 10 -1\n";
        assert_eq!(parse_listening_inodes(table, 8080), vec![55501]);
        assert!(parse_listening_inodes(table, 8081).is_empty());
    }

    #[test]
    fn finds_a_listener_of_this_process() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(find_listener(port), Some(std::process::id()));
    }

    #[test]
    fn descendants_walk_the_tree_and_skip_the_dead() {
        let p = |pid, ppid| ProcStat {
            pid,
            ppid,
            utime: 0,
            stime: 0,
            cutime: 0,
            cstime: 0,
            num_threads: 1,
        };
        let procs = [p(1, 0), p(10, 1), p(11, 10), p(12, 11), p(20, 1), p(21, 20)];
        let d = descendants(&procs, &[10]);
        assert_eq!(d.into_iter().collect::<Vec<_>>(), vec![10, 11, 12]);
        assert!(descendants(&procs, &[99]).is_empty());
        assert_eq!(descendants(&procs, &[20, 11]).len(), 4);
    }

    #[test]
    fn sampling_this_process_sees_memory_and_time() {
        let w = Watched {
            server: std::process::id(),
            postmaster: None,
        };
        let s = w.sample();
        assert!(s.server.processes >= 1);
        assert!(s.server.rss_kb > 0);
        assert!(s.server.peak_rss_kb > 0);
        assert_eq!(s.database, GroupSample::default());
        assert!(clock_ticks_per_sec() > 0);
    }
}
