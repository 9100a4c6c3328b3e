//! Writes a synthetic city package: `cargo run --release -p fudian-grid --example generate --
//! --customers 1500000 --feeders 1000 --seed 7 --out data/city-1.5m` (the `fudian grid generate`
//! command does the same with a progress bar).

use std::path::PathBuf;
use std::time::Instant;

use fudian_grid::generate::{GenerateOptions, generate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut opts = GenerateOptions {
        customers: 1_500_000,
        feeders: 1_000,
        seed: 7,
    };
    let mut out = PathBuf::from("data/city-1.5m");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--customers" => opts.customers = value.parse()?,
            "--feeders" => opts.feeders = value.parse()?,
            "--seed" => opts.seed = value.parse()?,
            "--out" => out = PathBuf::from(value),
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    let started = Instant::now();
    let mut last_tenth = 0;
    let summary = generate(&opts, &out, &mut |done, total| {
        let tenth = (done * 10).checked_div(total).unwrap_or(10);
        if tenth > last_tenth {
            last_tenth = tenth;
            eprintln!("{done}/{total} customers");
        }
    })?;
    eprintln!(
        "wrote {} in {:.2} s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}
