//! The raw signing rate of a key on one core: a tight loop of the same
//! token generator the server uses, no HTTP. The load benchmark
//! (`scripts/bench-load`) divides the server's tokens/s by this.
//!
//! ```text
//! cargo run --release -p registry-auth --example sign_rate -- KEY.pem [SECONDS]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use registry_auth::token::{JwtGenerator, SystemClock};
use registry_auth::{AccessRequest, Identity, KeyIdMode, Scope, SigningKey, TokenGenerator};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let key_path = args.next().ok_or("usage: sign_rate KEY.pem [SECONDS]")?;
    let seconds: f64 = args.next().map_or(Ok(3.0), |s| s.parse())?;
    let key = SigningKey::from_pem_file(&key_path)?;
    let alg = key.algorithm();
    let generator = JwtGenerator::new(
        key,
        vec![],
        KeyIdMode::Libtrust,
        "bench",
        Duration::from_secs(300),
        Arc::new(SystemClock),
    );
    let who = Identity::anonymous();
    let request = AccessRequest::new("registry.bench", vec![]);
    let granted = [Scope::repository("bench/app", ["pull"])];
    let started = Instant::now();
    let mut count: u64 = 0;
    while started.elapsed().as_secs_f64() < seconds {
        for _ in 0..64 {
            std::hint::black_box(generator.generate(&who, &granted, &request)?);
        }
        count += 64;
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    println!("{alg} {rate:.0} tokens/s on one core");
    Ok(())
}
