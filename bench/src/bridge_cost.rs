//! What the tokio bridge costs: sequential keep-alive GETs from a kasync
//! task, with kasync's own hyper client against reqwest through
//! `kasync_tokio_bridge` (and reqwest on tokio itself, for reference),
//! all against the same `kasync_hyper::serve` server in a child process.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};

use crate::cpu::{Pinned, cpus};
use crate::harness::median_and_spread;
use crate::http::{Server, start};

/// A client under test: mean ns per GET.
type Client = fn(SocketAddr, usize) -> Result<f64, String>;

/// GETs per timed run.
const GETS: usize = 2_000;

/// Mean ns per GET with `kasync_hyper::client` on a kasync runtime.
fn kasync_client(addr: SocketAddr, gets: usize) -> Result<f64, String> {
    let rt = kasync_host::Runtime::new().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let client = kasync_hyper::client::<Empty<Bytes>>();
        let uri: hyper::Uri = format!("http://{addr}/")
            .parse()
            .map_err(|e| format!("{e}"))?;
        let get = || async {
            let response = client.get(uri.clone()).await.map_err(|e| e.to_string())?;
            response
                .into_body()
                .collect()
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        };
        get().await?; // the connection, outside the timing
        let start = Instant::now();
        for _ in 0..gets {
            get().await?;
        }
        Ok(start.elapsed().as_nanos() as f64 / gets as f64)
    })
}

/// The GETs of one reqwest client, `gets` times after a first one.
async fn reqwest_gets(addr: SocketAddr, gets: usize) -> Result<f64, String> {
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/");
    let get = || async {
        client
            .get(&url)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .bytes()
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    };
    get().await?;
    let start = Instant::now();
    for _ in 0..gets {
        get().await?;
    }
    Ok(start.elapsed().as_nanos() as f64 / gets as f64)
}

/// Mean ns per GET with reqwest inside a kasync task, through the bridge.
fn reqwest_bridged(addr: SocketAddr, gets: usize) -> Result<f64, String> {
    let rt = kasync_host::Runtime::new().map_err(|e| e.to_string())?;
    rt.block_on(kasync_tokio_bridge::bridge(reqwest_gets(addr, gets)))
}

/// Mean ns per GET with reqwest on tokio's current-thread runtime.
fn reqwest_tokio(addr: SocketAddr, gets: usize) -> Result<f64, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(reqwest_gets(addr, gets))
}

/// The section: ns per GET, median (min–max), and the ratios.
pub fn run(reps: usize) -> String {
    let mut out = String::from(
        "## The tokio bridge's cost: sequential HTTP/1.1 GETs from one task\n\nOne keep-alive connection, one request at a time, against `kasync_hyper::serve` in a child process pinned to CPU 0; the clients run on the last CPU, alternating. \"Bridged\" is reqwest inside a kasync task through `kasync_tokio_bridge` (its I/O driven on the bridge's thread); the reference is reqwest on tokio current-thread. Ratios are per repetition, median (min–max): time per GET over kasync's own client's.\n\n",
    );
    let me = std::env::current_exe().expect("own path");
    let server = Server {
        name: "kasync_hyper::serve",
        program: me,
        args: vec!["serve-auto-kasync".into()],
    };
    let addr: SocketAddr = ([127, 0, 0, 1], 30_900).into();
    let mut child = match start(&server, addr) {
        Ok(child) => child,
        Err(e) => return out + &format!("Failed: {e}\n\n"),
    };
    let gets = if reps <= 1 { GETS / 10 } else { GETS };
    let _pinned = (cpus() > 1).then(Pinned::to_last_cpu).flatten();
    let clients: [(&str, Client); 3] = [
        ("kasync_hyper::client on kasync", kasync_client),
        (
            "reqwest through the bridge, in a kasync task",
            reqwest_bridged,
        ),
        ("reqwest on tokio current-thread", reqwest_tokio),
    ];
    let mut samples: [Vec<f64>; 3] = Default::default();
    for _ in 0..reps.max(1) {
        for (i, (name, client)) in clients.iter().enumerate() {
            match client(addr, gets) {
                Ok(ns) => samples[i].push(ns),
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return out + &format!("Failed ({name}): {e}\n\n");
                }
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    out += "| client | µs per GET | vs kasync's client |\n|---|---|---|\n";
    for (i, (name, _)) in clients.iter().enumerate() {
        let us: Vec<f64> = samples[i].iter().map(|ns| ns / 1000.0).collect();
        let ratio: Vec<f64> = samples[i]
            .iter()
            .zip(&samples[0])
            .map(|(s, k)| s / k)
            .collect();
        out += &format!(
            "| {name} | {} | {} |\n",
            median_and_spread(us, 1),
            if i == 0 {
                "1".into()
            } else {
                format!("{}×", median_and_spread(ratio, 2))
            }
        );
    }
    out + "\n"
}
