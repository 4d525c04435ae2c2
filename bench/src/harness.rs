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
}

/// What one run reports besides its wall time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Run {
    /// Extra counter (e.g. system calls).
    pub counter: Option<u64>,
    /// The time the contender measured itself (an external tool's figure),
    /// used instead of the wall time of the run.
    pub elapsed: Option<Duration>,
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
            elapsed: None,
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
    }
}

/// A contender: a name and a run.
pub struct Contender<'a> {
    /// Shown in the report.
    pub name: &'static str,
    /// One run.
    pub run: Box<dyn FnMut() -> Run + 'a>,
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
    }
}

impl Results {
    fn ns_per_op(&self, c: usize) -> Vec<f64> {
        self.samples[c]
            .iter()
            .map(|s| s.time.as_nanos() as f64 / self.units as f64)
            .collect()
    }

    /// Markdown rows: one per contender, with its ratio to kasync (how many
    /// times faster kasync is; > 1 means kasync wins), taken per repetition.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let ours = self.ns_per_op(0);
        for c in 0..self.names.len() {
            let mut times = self.ns_per_op(c);
            let (lo, hi) = spread(&times);
            let med = median(&mut times);
            let ratio = if c == 0 {
                "1 (reference)".to_owned()
            } else {
                let mut ratios: Vec<f64> = self
                    .ns_per_op(c)
                    .iter()
                    .zip(&ours)
                    .map(|(t, o)| t / o)
                    .collect();
                let (rlo, rhi) = spread(&ratios);
                format!("**{:.2}×** ({rlo:.2}–{rhi:.2})", median(&mut ratios))
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
            out += &format!(
                "| {} | {} | {med:.1} ({lo:.1}–{hi:.1}) | {ratio} | {allocs} |{counter}\n",
                self.name, self.names[c]
            );
        }
        out
    }

    /// The Markdown table header for results like these.
    pub fn header(counter: Option<&str>) -> String {
        let (extra, sep) = match counter {
            Some(name) => (format!(" {name} per op |"), "---|"),
            None => (String::new(), ""),
        };
        format!(
            "| benchmark | runtime | ns/op, median (min–max) | kasync faster by, median (min–max) | heap allocations per run |{extra}\n|---|---|---|---|---|{sep}\n"
        )
    }
}
