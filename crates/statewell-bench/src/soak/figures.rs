//! What one interval of the soak measured, and its row in the table printed
//! as the run goes.

use serde::Serialize;

use super::load::Window;

/// Requests answered, by operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OpCounts {
    pub set: u64,
    pub get: u64,
    pub update: u64,
    pub delete: u64,
    pub list: u64,
}

impl OpCounts {
    pub fn total(&self) -> u64 {
        self.set + self.get + self.update + self.delete + self.list
    }

    pub fn add(&mut self, other: &OpCounts) {
        self.set += other.set;
        self.get += other.get;
        self.update += other.update;
        self.delete += other.delete;
        self.list += other.list;
    }
}

/// One restart of the engine: which signal, and how long until it served
/// again on the same port and data directory.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Restart {
    pub signal: &'static str,
    /// Signal → the old process gone.
    pub stopped_in_s: f64,
    /// Signal → the new process listening (its log replayed).
    pub serving_after_s: f64,
    /// The old process's exit code after SIGTERM (`None` after SIGKILL, or
    /// when a signal ended it).
    pub exit_code: Option<i32>,
    /// After SIGTERM: it exited by itself within the bench's 30 s.
    pub clean: bool,
}

/// The engine as `/proc` showed it, sampled about once a second.
#[derive(Clone, Copy, Debug, Default)]
pub struct Samples {
    pub rss_last: Option<u64>,
    pub rss_max: Option<u64>,
    pub fds_last: Option<u64>,
    pub fds_max: Option<u64>,
}

impl Samples {
    pub fn add(&mut self, rss: Option<u64>, fds: Option<u64>) {
        if rss.is_some() {
            self.rss_last = rss;
            self.rss_max = self.rss_max.max(rss);
        }
        if fds.is_some() {
            self.fds_last = fds;
            self.fds_max = self.fds_max.max(fds);
        }
    }
}

/// One interval's figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct IntervalFigures {
    /// 1-based.
    pub index: usize,
    /// Seconds since the measured run began, at the interval's end.
    pub ends_at_s: f64,
    pub seconds: f64,
    pub ops: u64,
    pub by_op: OpCounts,
    pub ops_per_sec: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub p99_read_us: u64,
    pub p99_write_us: u64,
    /// Requests a restart cut off: the connection went away before the
    /// answer, or the draining engine answered `unavailable`.
    pub cut_off: u64,
    /// Error answers and timeouts.
    pub errors: u64,
    pub rss_bytes: Option<u64>,
    pub rss_max_bytes: Option<u64>,
    pub fds: Option<u64>,
    pub fds_max: Option<u64>,
    /// The data directory's size on disk at the interval's end.
    pub disk_bytes: u64,
    /// The restart at the interval's start, whose down time it includes.
    pub restart: Option<Restart>,
}

impl IntervalFigures {
    pub fn new(
        index: usize,
        ends_at_s: f64,
        seconds: f64,
        window: &Window,
        samples: Samples,
        disk_bytes: u64,
        restart: Option<Restart>,
    ) -> IntervalFigures {
        let h = &window.latency_us;
        let ops = window.ops.total();
        // An empty histogram reads 0 everywhere: no answers, no latency.
        IntervalFigures {
            index,
            ends_at_s,
            seconds,
            ops,
            by_op: window.ops,
            ops_per_sec: ops as f64 / seconds.max(1e-9),
            p50_us: h.value_at_quantile(0.5),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            p99_read_us: window.read_us.value_at_quantile(0.99),
            p99_write_us: window.write_us.value_at_quantile(0.99),
            cut_off: window.cut_off,
            errors: window.errors,
            rss_bytes: samples.rss_last,
            rss_max_bytes: samples.rss_max,
            fds: samples.fds_last,
            fds_max: samples.fds_max,
            disk_bytes,
            restart,
        }
    }
}

/// The table's head: p99 r/w is the p99 of reads and of writes apart.
pub const HEADER: &str = "   #    end   ops/s    p50 ms   p99 ms  p99.9 ms   max ms  p99 r/w ms  cut off  errors   RSS MiB (max)   fds  disk MiB  restart at start";

/// The interval's line of the table.
pub fn row(f: &IntervalFigures) -> String {
    let restart = match &f.restart {
        Some(r) => format!("{}, serving again in {:.2} s", r.signal, r.serving_after_s),
        None => String::new(),
    };
    let rss = match (f.rss_bytes, f.rss_max_bytes) {
        (Some(last), Some(max)) => format!("{:>6.1} ({:>6.1})", mib(last), mib(max)),
        _ => "     -         ".to_owned(),
    };
    let fds = f.fds.map_or("-".to_owned(), |n| n.to_string());
    format!(
        "{:>4} {:>5.0}s {:>7.0} {:>9.2} {:>8.2} {:>9.2} {:>8.1} {:>11} {:>8} {:>7}  {} {:>5} {:>9.1}  {}",
        f.index,
        f.ends_at_s,
        f.ops_per_sec,
        ms(f.p50_us),
        ms(f.p99_us),
        ms(f.p999_us),
        ms(f.max_us),
        format!("{:.1}/{:.1}", ms(f.p99_read_us), ms(f.p99_write_us)),
        f.cut_off,
        f.errors,
        rss,
        fds,
        mib(f.disk_bytes),
        restart
    )
    .trim_end()
    .to_owned()
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

pub fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_keep_the_last_and_the_largest_value() {
        let mut s = Samples::default();
        s.add(Some(10), Some(5));
        s.add(Some(30), Some(7));
        // The engine was down for this one.
        s.add(None, None);
        s.add(Some(20), Some(6));
        assert_eq!(s.rss_last, Some(20));
        assert_eq!(s.rss_max, Some(30));
        assert_eq!(s.fds_last, Some(6));
        assert_eq!(s.fds_max, Some(7));
    }

    #[test]
    fn an_interval_reads_its_window_and_prints_one_row() {
        let mut window = Window::new();
        for us in 1..=1000u64 {
            window.latency_us.record(us).expect("in range");
        }
        window.ops.get = 600;
        window.ops.set = 400;
        window.cut_off = 3;
        let samples = Samples {
            rss_last: Some(20 << 20),
            rss_max: Some(21 << 20),
            fds_last: Some(14),
            fds_max: Some(15),
        };
        let restart = Restart {
            signal: "SIGKILL",
            stopped_in_s: 0.01,
            serving_after_s: 0.25,
            exit_code: None,
            clean: true,
        };
        let f = IntervalFigures::new(2, 60.0, 30.0, &window, samples, 3 << 20, Some(restart));
        assert_eq!(f.ops, 1000);
        assert!((f.ops_per_sec - 33.33).abs() < 0.01);
        assert!((985..=995).contains(&f.p99_us), "{}", f.p99_us);
        assert_eq!(f.max_us, 1000);
        let line = row(&f);
        assert!(line.contains("  20.0 (  21.0)"), "{line}");
        assert!(line.ends_with("SIGKILL, serving again in 0.25 s"), "{line}");
    }
}
