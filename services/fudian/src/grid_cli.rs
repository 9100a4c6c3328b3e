//! `fudian grid ...`: the command line over `fudian-grid` (check, trace, generate, bench).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use fudian_grid::generate::{GenerateOptions, generate};
use fudian_grid::{
    AreaClass, BranchKind, CapacityCheck, Grid, LoadStage, Operation, RestorationPlan,
    SwitchDevice, Topology, load_package_with_progress,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

#[derive(Debug, Args)]
pub struct GridArgs {
    #[command(subcommand)]
    pub command: GridCommand,
}

#[derive(Debug, Subcommand)]
pub enum GridCommand {
    /// Validate a package and print its statistics; every problem is listed on failure.
    Check {
        /// The package folder.
        dir: PathBuf,
    },
    /// Answer outage questions about one element, or a file of scenarios.
    Trace(TraceArgs),
    /// Write a deterministic synthetic city package.
    Generate {
        #[arg(long)]
        customers: u64,
        #[arg(long)]
        feeders: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Measure loading, outage counting, switching and spatial lookups on a package.
    Bench {
        dir: PathBuf,
        /// Print the results as JSON instead of a markdown table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("question").required(true).args(["open", "fault", "restore", "batch"])))]
pub struct TraceArgs {
    /// The package folder.
    dir: PathBuf,
    /// Customers lost when this element is opened or taken out of service.
    #[arg(long)]
    open: Option<String>,
    /// The protective device that clears a fault on this element, and who it takes out.
    #[arg(long)]
    fault: Option<String>,
    /// The isolation and restoration plan for a fault on this element.
    #[arg(long)]
    restore: Option<String>,
    /// A file shaped like references.json: every scenario in it is answered in that shape.
    #[arg(long)]
    batch: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: GridArgs) -> anyhow::Result<()> {
    match args.command {
        GridCommand::Check { dir } => check(&dir),
        GridCommand::Trace(trace_args) => trace(&trace_args),
        GridCommand::Generate {
            customers,
            feeders,
            seed,
            out,
        } => run_generate(
            &GenerateOptions {
                customers,
                feeders,
                seed,
            },
            &out,
        ),
        GridCommand::Bench { dir, json } => bench(&dir, json),
    }
}

/// How long each loading step took.
type StageTimes = Vec<(LoadStage, Duration)>;

/// Loads a package behind a spinner that names each step.
fn load(dir: &Path) -> anyhow::Result<(Grid, Duration)> {
    load_timed(dir).map(|(grid, took, _)| (grid, took))
}

/// Like [`load`], also returning how long each step took.
fn load_timed(dir: &Path) -> anyhow::Result<(Grid, Duration, StageTimes)> {
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("{spinner} loading {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    spinner.enable_steady_tick(Duration::from_millis(100));
    let started = Instant::now();
    let mut marks: Vec<(LoadStage, Instant)> = Vec::new();
    let result = load_package_with_progress(dir, &mut |stage: LoadStage| {
        marks.push((stage, Instant::now()));
        spinner.set_message(stage.as_str());
    });
    let finished = Instant::now();
    let took = finished - started;
    spinner.finish_and_clear();
    let grid = result.with_context(|| format!("failed to load grid package {}", dir.display()))?;
    let stages = marks
        .iter()
        .enumerate()
        .map(|(i, (stage, at))| {
            (
                *stage,
                marks.get(i + 1).map_or(finished, |next| next.1) - *at,
            )
        })
        .collect();
    Ok((grid, took, stages))
}

/// A `/proc/self/status` figure in bytes (`VmHWM`, `VmRSS`); 0 where unavailable.
fn proc_status_bytes(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let rest = line.strip_prefix(key)?.strip_prefix(':')?;
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
        })
        .map_or(0, |kb| kb * 1024)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn check(dir: &Path) -> anyhow::Result<()> {
    let (grid, took) = load(dir)?;
    let topology = Topology::new(&grid);
    println!(
        "{} is a valid grid package (loaded in {:.2} s)",
        dir.display(),
        took.as_secs_f64()
    );
    println!("buses:        {}", grid.buses.len());
    println!("sources:      {}", grid.sources.len());
    for kind in [
        BranchKind::Line,
        BranchKind::Switch,
        BranchKind::Transformer,
    ] {
        let count = grid.branches.iter().filter(|b| b.kind == kind).count();
        let out = grid
            .branches
            .iter()
            .filter(|b| b.kind == kind && !b.in_service)
            .count();
        let plural = if kind == BranchKind::Switch {
            "switches:"
        } else {
            &format!("{}s:", kind.as_str())
        };
        println!("{plural:<13} {count} ({out} out of service)");
    }
    for device in SwitchDevice::ALL {
        let switches = grid.branches.iter().filter(|b| b.device == Some(device));
        let (count, open) =
            switches.fold((0, 0), |(n, o), b| (n + 1, o + usize::from(b.normal_open)));
        if count > 0 {
            println!("  {:<20} {count} ({open} normally open)", device.as_str());
        }
    }
    println!(
        "public distribution transformers (台区): {}",
        grid.public_transformer_count()
    );
    println!("customers:    {}", grid.customers.len());
    for area in AreaClass::ALL {
        let count = grid
            .customers
            .iter()
            .filter(|c| c.area_class == area)
            .count();
        println!("  {:<10} {count}", area.as_str());
    }
    let critical = grid.customers.iter().filter(|c| c.critical).count();
    println!("  critical   {critical}");
    println!("cells:        {}", grid.cells.len());
    println!("crews:        {}", grid.crews.len());
    println!(
        "energized:    {} of {} customers, {} islands",
        topology.energized_customer_count(),
        grid.customers.len(),
        topology.island_count()
    );
    println!(
        "peak memory:  {:.0} MiB (VmHWM)",
        mib(proc_status_bytes("VmHWM"))
    );
    Ok(())
}

fn branch_of(grid: &Grid, id: &str) -> anyhow::Result<u32> {
    match grid.branch_index(id) {
        Some(branch) => Ok(branch),
        None => bail!("{id} is not a line, switch or transformer of this package"),
    }
}

fn trace(args: &TraceArgs) -> anyhow::Result<()> {
    let (grid, _) = load(&args.dir)?;
    let topology = Topology::new(&grid);
    let answer = if let Some(file) = &args.batch {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("failed to read {}", file.display()))?;
        let scenarios: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", file.display()))?;
        let answers = fudian_grid::batch::answer(&grid, &topology, &scenarios);
        println!("{}", serde_json::to_string_pretty(&answers)?);
        return Ok(());
    } else if let Some(id) = &args.open {
        let affected = topology.outage_if_opened(branch_of(&grid, id)?);
        json!({
            "element": id,
            "customers_out": affected.customer_count(),
            "users_out": affected.users,
            "customers": grid.customer_ids(affected.customers),
        })
    } else if let Some(id) = &args.fault {
        let fault = topology.fault_on(branch_of(&grid, id)?);
        json!({
            "element": id,
            "protective_device": fault.protective_device.map(|d| grid.branch(d).id.to_string()),
            "users_out": fault.users_out,
            "customers_out": grid.customer_ids(&fault.customers_out),
        })
    } else if let Some(id) = &args.restore {
        plan_json(&grid, &topology.restoration_plan(branch_of(&grid, id)?))
    } else {
        bail!("one of --open, --fault, --restore or --batch is needed");
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print_summary(&answer);
    }
    Ok(())
}

/// Text output: scalars as they are, lists as a count and their first ids.
fn print_summary(answer: &Value) {
    let Value::Object(fields) = answer else {
        return;
    };
    for (key, value) in fields {
        match value {
            Value::Array(items) => {
                let shown: Vec<String> = items.iter().take(10).map(compact).collect();
                let more = if items.len() > 10 {
                    format!(", ... ({} more)", items.len() - 10)
                } else {
                    String::new()
                };
                println!("{key}: {} [{}{more}]", items.len(), shown.join(", "));
            }
            other => println!("{key}: {}", compact(other)),
        }
    }
}

fn compact(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "none".into(),
        other => other.to_string(),
    }
}

fn capacity_json(grid: &Grid, capacity: &CapacityCheck) -> Value {
    match capacity {
        CapacityCheck::Checked => json!({"status": "checked"}),
        CapacityCheck::Unchecked { reason } => json!({"status": "unchecked", "reason": reason}),
        CapacityCheck::Violated {
            branch,
            load_kw,
            rated_kva,
        } => json!({
            "status": "violated",
            "branch": grid.branch(*branch).id.to_string(),
            "load_kw": load_kw,
            "rated_kva": rated_kva,
        }),
    }
}

fn plan_json(grid: &Grid, plan: &RestorationPlan) -> Value {
    let ids = |branches: &[u32]| -> Vec<String> {
        branches
            .iter()
            .map(|&b| grid.branch(b).id.to_string())
            .collect()
    };
    let closings = |list: &[fudian_grid::TieClosing]| -> Vec<Value> {
        list.iter()
            .map(|c| {
                json!({
                    "switch": grid.branch(c.switch).id.to_string(),
                    "customers": c.customers.len(),
                    "transferred_kw": c.transferred_kw,
                    "capacity": capacity_json(grid, &c.capacity),
                })
            })
            .collect()
    };
    json!({
        "element": grid.branch(plan.faulted).id.to_string(),
        "protective_device": plan.protective_device.map(|d| grid.branch(d).id.to_string()),
        "section_buses": plan.section.buses.len(),
        "isolating_switches": ids(&plan.isolating_switches),
        "reclose": plan.reclose.map(|d| grid.branch(d).id.to_string()),
        "close_switches": closings(&plan.close_switches),
        "refused_switches": closings(&plan.refused_switches),
        "capacity": capacity_json(grid, &plan.capacity),
        "customers_out": plan.customers_out.len(),
        "restored": grid.customer_ids(&plan.restored),
        "stay_out_faulted": grid.customer_ids(&plan.stay_out_faulted),
        "stay_out_unreachable": grid.customer_ids(&plan.stay_out_unreachable),
    })
}

fn run_generate(options: &GenerateOptions, out: &Path) -> anyhow::Result<()> {
    let bar = ProgressBar::new(options.customers);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} customers ({elapsed}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let summary = generate(options, out, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .with_context(|| format!("failed to generate a package in {}", out.display()))?;
    bar.finish_and_clear();
    println!(
        "wrote {} in {:.1} s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// bench

fn median(mut samples: Vec<Duration>) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// `count` indices spread evenly over `0..len`.
fn spread(len: usize, count: usize) -> impl Iterator<Item = usize> {
    let step = (len / count.max(1)).max(1);
    (0..len).step_by(step).take(count)
}

struct Row {
    measure: &'static str,
    ours: String,
    baseline: String,
    goal: &'static str,
}

fn bench(dir: &Path, as_json: bool) -> anyhow::Result<()> {
    let (grid, load_time, stages) = load_timed(dir)?;
    for (stage, took) in &stages {
        eprintln!(
            "load step {:<16} {:>8.0} ms",
            stage.as_str(),
            took.as_secs_f64() * 1e3
        );
    }
    let rss_grid = proc_status_bytes("VmRSS");
    let started = Instant::now();
    let mut topology = Topology::new(&grid);
    let index_time = started.elapsed();
    let peak = proc_status_bytes("VmHWM");
    let rss = proc_status_bytes("VmRSS");

    // Elements whose opening loses customers: conducting tree branches, spread over the file.
    let candidates: Vec<u32> = (0..grid.branches.len() as u32)
        .filter(|&b| topology.outage_if_opened(b).customer_count() > 0)
        .collect();
    let elements: Vec<u32> = spread(candidates.len(), 2000)
        .map(|i| candidates[i])
        .collect();

    let mut count_times = Vec::with_capacity(elements.len());
    let mut total = 0usize;
    for &b in &elements {
        let t = Instant::now();
        total += std::hint::black_box(topology.outage_if_opened(b)).customer_count();
        count_times.push(t.elapsed());
    }
    let count_median = median(count_times);

    let t = Instant::now();
    let mut listed = 0usize;
    let mut sink = Vec::new();
    for &b in &elements {
        sink.clear();
        sink.extend_from_slice(topology.outage_if_opened(b).customers);
        listed += std::hint::black_box(&sink).len();
    }
    let list_rate = listed as f64 / t.elapsed().as_secs_f64().max(1e-9);

    let naive_elements: Vec<u32> = spread(elements.len(), 10).map(|i| elements[i]).collect();
    let mut naive_times = Vec::new();
    let mut naive_listed = 0usize;
    let t_naive = Instant::now();
    for &b in &naive_elements {
        let t = Instant::now();
        naive_listed += std::hint::black_box(topology.naive_outage_if_opened(b)).len();
        naive_times.push(t.elapsed());
    }
    let naive_rate = naive_listed as f64 / t_naive.elapsed().as_secs_f64().max(1e-9);
    let naive_median = median(naive_times);

    // Switching: open and re-close switches that lose customers when opened.
    let switches: Vec<u32> = candidates
        .iter()
        .copied()
        .filter(|&b| grid.branch(b).kind == BranchKind::Switch)
        .collect();
    let mut switch_times = Vec::new();
    let mut changed = 0usize;
    for i in spread(switches.len(), 200) {
        let s = switches[i];
        let t = Instant::now();
        let change = topology.apply(Operation::Open(s));
        switch_times.push(t.elapsed());
        changed += change.lost.len();
        let t = Instant::now();
        let change = topology.apply(Operation::Close(s));
        switch_times.push(t.elapsed());
        changed += change.restored.len();
    }
    let switch_median = median(switch_times);
    let mut rebuild_times = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        topology.rebuild_all();
        rebuild_times.push(t.elapsed());
    }
    let rebuild_median = median(rebuild_times);

    // Nearest line segment at bus positions nudged off the network.
    let mut segment_times = Vec::new();
    for i in spread(grid.buses.len(), 5000) {
        let [lon, lat] = grid.buses[i].position;
        let t = Instant::now();
        std::hint::black_box(grid.spatial().nearest_segment([lon + 0.0004, lat - 0.0003]));
        segment_times.push(t.elapsed());
    }
    let segment_median = median(segment_times);

    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    let rows = vec![
        Row {
            measure: "load package (parse, validate, spatial index)",
            ours: format!("{:.2} s", load_time.as_secs_f64()),
            baseline: "-".into(),
            goal: "< 15 s",
        },
        Row {
            measure: "build topology index",
            ours: format!("{:.0} ms", index_time.as_secs_f64() * 1e3),
            baseline: "-".into(),
            goal: "-",
        },
        Row {
            measure: "peak memory (VmHWM)",
            ours: format!("{:.0} MiB", mib(peak)),
            baseline: "-".into(),
            goal: "-",
        },
        Row {
            measure: "resident after load + index (VmRSS)",
            ours: format!("{:.0} MiB (grid alone {:.0} MiB)", mib(rss), mib(rss_grid)),
            baseline: "-".into(),
            goal: "< 1 GB",
        },
        Row {
            measure: "open element: count lost customers, median",
            ours: format!("{:.3} µs", micros(count_median)),
            baseline: format!("{:.0} µs (naive BFS)", micros(naive_median)),
            goal: "< 1 µs",
        },
        Row {
            measure: "open element: list lost customers",
            ours: format!("{:.0} M customers/s", list_rate / 1e6),
            baseline: format!("{:.2} M customers/s (naive BFS)", naive_rate / 1e6),
            goal: ">= 50 M/s",
        },
        Row {
            measure: "switch operation with incremental re-index, median",
            ours: format!("{:.3} ms", switch_median.as_secs_f64() * 1e3),
            baseline: format!(
                "{:.1} ms (full rebuild)",
                rebuild_median.as_secs_f64() * 1e3
            ),
            goal: "< 2 ms",
        },
        Row {
            measure: "nearest line segment, median",
            ours: format!("{:.2} µs", micros(segment_median)),
            baseline: "-".into(),
            goal: "< 5 µs",
        },
    ];
    if as_json {
        let value = json!({
            "package": dir.display().to_string(),
            "buses": grid.buses.len(),
            "branches": grid.branches.len(),
            "customers": grid.customers.len(),
            "islands": topology.island_count(),
            "load_s": load_time.as_secs_f64(),
            "index_build_ms": index_time.as_secs_f64() * 1e3,
            "peak_rss_bytes": peak,
            "rss_bytes": rss,
            "open_count_median_us": micros(count_median),
            "naive_open_median_us": micros(naive_median),
            "list_customers_per_s": list_rate,
            "naive_list_customers_per_s": naive_rate,
            "switch_median_ms": switch_median.as_secs_f64() * 1e3,
            "full_rebuild_ms": rebuild_median.as_secs_f64() * 1e3,
            "nearest_segment_median_us": micros(segment_median),
            "elements_sampled": elements.len(),
            "customers_counted": total,
            "customers_changed_by_switching": changed,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!(
            "{}: {} buses, {} branches, {} customers, {} islands",
            dir.display(),
            grid.buses.len(),
            grid.branches.len(),
            grid.customers.len(),
            topology.island_count()
        );
        println!();
        println!("| measure | fudian-grid | baseline, same run | goal |");
        println!("|---|---:|---:|---:|");
        for row in rows {
            println!(
                "| {} | {} | {} | {} |",
                row.measure, row.ours, row.baseline, row.goal
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        grid: GridArgs,
    }

    fn sample() -> String {
        format!(
            "{}/../../../shared/grids/mv-oberrhein",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    #[test]
    fn trace_takes_exactly_one_question() {
        assert!(Cli::try_parse_from(["grid", "trace", "dir"]).is_err());
        assert!(
            Cli::try_parse_from(["grid", "trace", "dir", "--open", "L1", "--fault", "L2"]).is_err()
        );
        assert!(Cli::try_parse_from(["grid", "trace", "dir", "--restore", "L1", "--json"]).is_ok());
    }

    #[test]
    fn check_and_every_trace_question_run_on_the_sample_package() {
        let sample = sample();
        for args in [
            vec!["grid", "check", &sample],
            vec!["grid", "trace", &sample, "--open", "L5"],
            vec!["grid", "trace", &sample, "--fault", "L5", "--json"],
            vec!["grid", "trace", &sample, "--restore", "L11"],
        ] {
            let cli = Cli::try_parse_from(&args).unwrap();
            run(cli.grid).unwrap();
        }
    }

    #[test]
    fn tracing_an_unknown_element_fails_with_its_name() {
        let sample = sample();
        let cli = Cli::try_parse_from(["grid", "trace", &sample, "--open", "NOPE"]).unwrap();
        let error = run(cli.grid).unwrap_err();
        assert!(error.to_string().contains("NOPE"));
    }

    #[test]
    fn plans_render_capacity_status_as_json() {
        let grid = fudian_grid::load_package(Path::new(&sample())).unwrap();
        let topology = Topology::new(&grid);
        let plan = topology.restoration_plan(grid.branch_index("L11").unwrap());
        let value = plan_json(&grid, &plan);
        assert_eq!(value["isolating_switches"], json!(["S17", "S18"]));
        assert_eq!(value["stay_out_unreachable"].as_array().unwrap().len(), 11);
        assert!(value["capacity"]["status"].is_string());
    }
}
