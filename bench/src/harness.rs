//! Measuring side by side: runs alternate between the contenders (the order
//! flips every repetition), each ratio is taken within one repetition, and
//! the report gives medians with the min–max spread.

use std::time::{Duration, Instant};

use kasync_tests::alloc_counter::allocations_in;

/// One measured run.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Wall time.
    pub time: Duration,
    /// Heap allocations made by the measured thread.
    pub allocations: usize,
    /// Extra counter the contender reports (e.g. system calls).
    pub counter: Option<u64>,
    /// Median and 99th-percentile latency of one operation, if measured.
    pub latency: Option<(Duration, Duration)>,
    /// CPU time split of a measured process, if reported.
    pub cpu_split: Option<CpuSplit>,
}

/// A process's CPU time in user space and in the kernel, in clock ticks
/// (coarse: the report sums them over all repetitions).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSplit {
    /// Ticks in user space.
    pub user: u64,
    /// Ticks in the kernel.
    pub kernel: u64,
}

/// What one run reports besides its wall time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Run {
    /// Extra counter (e.g. system calls).
    pub counter: Option<u64>,
    /// The time the contender measured itself (an external tool's figure),
    /// used instead of the wall time of the run.
    pub elapsed: Option<Duration>,
    /// Median and 99th-percentile latency of one operation.
    pub latency: Option<(Duration, Duration)>,
    /// Where a measured process spent its CPU time.
    pub cpu_split: Option<CpuSplit>,
}

impl Run {
    /// Nothing to report.
    pub fn plain() -> Self {
        Self::default()
    }

    /// With an extra counter.
    pub fn counted(counter: u64) -> Self {
        Self {
            counter: Some(counter),
            ..Self::default()
        }
    }
}

/// Runs `f`, timing it and counting its allocations.
pub fn measure(f: impl FnOnce() -> Run) -> Sample {
    let start = Instant::now();
    let (run, allocations) = allocations_in(f);
    Sample {
        time: run.elapsed.unwrap_or_else(|| start.elapsed()),
        allocations,
        counter: run.counter,
        latency: run.latency,
        cpu_split: run.cpu_split,
    }
}

/// A contender: a name and a run.
pub struct Contender<'a> {
    /// Shown in the report.
    pub name: &'static str,
    /// One run.
    pub run: Box<dyn FnMut() -> Run + 'a>,
}

/// "median (min–max)" of `values`, with `digits` decimals.
pub fn median_and_spread(mut values: Vec<f64>, digits: usize) -> String {
    let (min, max) = spread(&values);
    let mid = median(&mut values);
    format!("{mid:.digits$} ({min:.digits$}–{max:.digits$})")
}

/// The median of `values` (sorted in place).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn spread(values: &[f64]) -> (f64, f64) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min, max)
}

/// Results of one benchmark: per contender, the samples of every
/// repetition.
pub struct Results {
    /// Benchmark name.
    pub name: String,
    /// Work units per run (ns/op divides by this).
    pub units: usize,
    /// Contender names, in order; the first is kasync, the reference.
    pub names: Vec<&'static str>,
    /// `samples[c][r]`: contender `c`, repetition `r`.
    pub samples: Vec<Vec<Sample>>,
    /// Name of the extra counter, if contenders report one.
    pub counter: Option<&'static str>,
    /// Ratios compare the counter per operation instead of the time (for
    /// runs whose time is fixed by an offered load, where the cost is in
    /// the counter, e.g. server CPU time).
    pub ratio_by_counter: bool,
}

/// Runs every contender `reps` times, alternating (order reversed every
/// other repetition), after one warm-up run each.
pub fn compare(
    name: &str,
    units: usize,
    reps: usize,
    counter: Option<&'static str>,
    mut contenders: Vec<Contender<'_>>,
) -> Results {
    for c in contenders.iter_mut() {
        (c.run)();
    }
    let mut samples = vec![Vec::with_capacity(reps); contenders.len()];
    for rep in 0..reps {
        let order: Vec<usize> = if rep % 2 == 0 {
            (0..contenders.len()).collect()
        } else {
            (0..contenders.len()).rev().collect()
        };
        for i in order {
            let run = &mut contenders[i].run;
            samples[i].push(measure(run));
        }
        eprint!(".");
    }
    eprintln!(" {name}");
    Results {
        name: name.to_owned(),
        units,
        names: contenders.iter().map(|c| c.name).collect(),
        samples,
        counter,
        ratio_by_counter: false,
    }
}

impl Results {
    /// Takes the ratios from the counter instead of the time (see
    /// [`Results::ratio_by_counter`]).
    pub fn by_counter(mut self) -> Self {
        self.ratio_by_counter = true;
        self
    }

    fn ns_per_op(&self, c: usize) -> Vec<f64> {
        self.samples[c]
            .iter()
            .map(|s| s.time.as_nanos() as f64 / self.units as f64)
            .collect()
    }

    /// What the ratios compare, per operation and repetition: the time, or
    /// the counter.
    fn cost_per_op(&self, c: usize) -> Vec<f64> {
        if !self.ratio_by_counter {
            return self.ns_per_op(c);
        }
        self.samples[c]
            .iter()
            .map(|s| s.counter.unwrap_or(0) as f64 / self.units as f64)
            .collect()
    }

    /// Contender `a`'s counter per operation over contender `b`'s, per
    /// repetition: (median, min, max).
    pub fn counter_ratio(&self, a: usize, b: usize) -> (f64, f64, f64) {
        let per_op = |c: usize| -> Vec<f64> {
            self.samples[c]
                .iter()
                .map(|s| s.counter.unwrap_or(0) as f64 / self.units as f64)
                .collect()
        };
        let mut ratios: Vec<f64> = per_op(a)
            .iter()
            .zip(per_op(b))
            .map(|(x, y)| x / y.max(f64::MIN_POSITIVE))
            .collect();
        let (lo, hi) = spread(&ratios);
        (median(&mut ratios), lo, hi)
    }

    /// Contender `a`'s time per operation over contender `b`'s, per
    /// repetition: (median, min, max).
    pub fn time_ratio(&self, a: usize, b: usize) -> (f64, f64, f64) {
        let mut ratios: Vec<f64> = self
            .ns_per_op(a)
            .iter()
            .zip(self.ns_per_op(b))
            .map(|(x, y)| x / y)
            .collect();
        let (lo, hi) = spread(&ratios);
        (median(&mut ratios), lo, hi)
    }

    /// Per-repetition ratios of contender `c`'s cost to kasync's.
    fn ratios_of(&self, c: usize) -> Vec<f64> {
        let ours = self.cost_per_op(0);
        self.cost_per_op(c)
            .iter()
            .zip(&ours)
            .map(|(t, o)| t / o)
            .collect()
    }

    /// Markdown rows: one per contender, with its ratio to kasync (how many
    /// times faster kasync is; > 1 means kasync wins), taken per repetition.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        for c in 0..self.names.len() {
            let mut times = self.ns_per_op(c);
            let (lo, hi) = spread(&times);
            let med = median(&mut times);
            let ratio = if c == 0 {
                "1 (reference)".to_owned()
            } else {
                let mut ratios = self.ratios_of(c);
                let (rlo, rhi) = spread(&ratios);
                let what = if self.ratio_by_counter {
                    format!(" by {}", self.counter.unwrap_or("counter"))
                } else {
                    String::new()
                };
                format!("**{:.2}×**{what} ({rlo:.2}–{rhi:.2})", median(&mut ratios))
            };
            let allocs = self.samples[c]
                .iter()
                .map(|s| s.allocations)
                .max()
                .unwrap_or(0);
            let counter = match self.counter {
                Some(_) => {
                    let mut per_op: Vec<f64> = self.samples[c]
                        .iter()
                        .filter_map(|s| s.counter.map(|n| n as f64 / self.units as f64))
                        .collect();
                    if per_op.is_empty() {
                        " – |".to_owned()
                    } else {
                        format!(" {:.3} |", median(&mut per_op))
                    }
                }
                None => String::new(),
            };
            let latency = if self.samples[c].iter().any(|s| s.latency.is_some()) {
                let mut p50: Vec<f64> = self.samples[c]
                    .iter()
                    .filter_map(|s| s.latency.map(|l| l.0.as_nanos() as f64 / 1e3))
                    .collect();
                let mut p99: Vec<f64> = self.samples[c]
                    .iter()
                    .filter_map(|s| s.latency.map(|l| l.1.as_nanos() as f64 / 1e3))
                    .collect();
                format!(" {:.1} / {:.1} |", median(&mut p50), median(&mut p99))
            } else {
                String::new()
            };
            let split = if self.samples[c].iter().any(|s| s.cpu_split.is_some()) {
                let (user, kernel) = self.samples[c]
                    .iter()
                    .filter_map(|s| s.cpu_split)
                    .fold((0, 0), |(u, k), s| (u + s.user, k + s.kernel));
                let total = (user + kernel).max(1) as f64;
                format!(
                    " {:.0} % / {:.0} % |",
                    100.0 * user as f64 / total,
                    100.0 * kernel as f64 / total
                )
            } else {
                String::new()
            };
            out += &format!(
                "| {} | {} | {med:.1} ({lo:.1}–{hi:.1}) | {ratio} | {allocs} |{counter}{latency}{split}\n",
                self.name, self.names[c]
            );
        }
        out
    }

    /// The Markdown table header for results like these (`latency`: add
    /// p50/p99 latency columns; `split`: the user/kernel CPU split).
    pub fn header(counter: Option<&str>, latency: bool, split: bool) -> String {
        let (mut extra, mut sep) = match counter {
            Some(name) => (format!(" {name} per op |"), "---|".to_owned()),
            None => (String::new(), String::new()),
        };
        if latency {
            extra += " latency p50 / p99, µs |";
            sep += "---|";
        }
        if split {
            extra += " server CPU in user space / kernel |";
            sep += "---|";
        }
        format!(
            "| benchmark | runtime | ns/op, median (min–max) | kasync faster by, median (min–max) | heap allocations per run |{extra}\n|---|---|---|---|---|{sep}\n"
        )
    }
}

impl Results {
    /// `(label, median ratio)` for every peer: how many times faster kasync
    /// is (time per operation), or how many times less it spends of the
    /// counter (for results taken [`by_counter`](Self::by_counter)).
    pub fn ratios(&self) -> Vec<(String, f64)> {
        (1..self.names.len())
            .map(|c| {
                let what = match (self.ratio_by_counter, self.counter) {
                    (true, Some(counter)) => format!(" ({counter})"),
                    _ => String::new(),
                };
                (
                    format!("{}{what} — vs {}", self.name, self.names[c]),
                    median(&mut self.ratios_of(c)),
                )
            })
            .collect()
    }
}

/// A horizontal bar chart of ratios (log scale, a line at 1×), as SVG.
pub fn svg_chart(title: &str, rows: &[(String, f64)]) -> String {
    // Room for the longest label (about 7 px a character at 12 px).
    let longest = rows.iter().map(|(label, _)| label.chars().count()).max();
    let label_w = (longest.unwrap_or(0) as f64 * 7.0 + 20.0).max(200.0);
    let (bar_w, row_h, top) = (360.0, 22.0, 40.0);
    let height = top + row_h * rows.len() as f64 + 30.0;
    let width = label_w + bar_w + 80.0;
    // log2 scale from 1/8× to 64×
    let x = |ratio: f64| label_w + (ratio.clamp(0.125, 64.0).log2() + 3.0) / 9.0 * bar_w;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{title}</text>\n"
    );
    for (i, (label, ratio)) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        let (x0, x1) = (x(1.0), x(*ratio));
        let (left, w) = if x1 >= x0 {
            (x0, x1 - x0)
        } else {
            (x1, x0 - x1)
        };
        let color = if *ratio >= 1.0 { "#2e7d32" } else { "#c62828" };
        svg += &format!(
            "<text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"end\">{}</text>\n\
             <rect x=\"{left:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{color}\"/>\n\
             <text x=\"{:.1}\" y=\"{:.0}\">{ratio:.2}×</text>\n",
            label_w - 8.0,
            y + 15.0,
            label.replace('&', "&amp;").replace('<', "&lt;"),
            y + 4.0,
            row_h - 8.0,
            left + w + 4.0,
            y + 15.0
        );
    }
    let base = top + row_h * rows.len() as f64;
    for tick in [0.25f64, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0] {
        let tx = x(tick);
        svg += &format!(
            "<line x1=\"{tx:.1}\" y1=\"{:.0}\" x2=\"{tx:.1}\" y2=\"{base:.0}\" stroke=\"{}\" stroke-width=\"1\"/>\n\
             <text x=\"{tx:.1}\" y=\"{:.0}\" text-anchor=\"middle\" fill=\"#555\">{tick}×</text>\n",
            top - 4.0,
            if tick == 1.0 { "#000" } else { "#ddd" },
            base + 16.0
        );
    }
    svg += "</svg>\n";
    svg
}
