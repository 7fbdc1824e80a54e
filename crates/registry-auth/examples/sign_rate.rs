//! The raw signing rate of a key on one core: a tight loop of the same
//! token generator the server uses, no HTTP. The load benchmark
//! (`scripts/bench-load`) divides the server's tokens/s by this.
//!
//! ```text
//! cargo run --release -p registry-auth --example sign_rate -- KEY.pem [SECONDS] [THREADS]
//! ```
//!
//! With THREADS > 1 the threads share one generator, as the server's
//! workers do, and the rate printed is their sum.

use std::time::Instant;

use registry_auth::token::{JwtGenerator, TokenGenerator};
use registry_auth::{AccessRequest, Identity, Scope};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let key_path = args.next().ok_or("usage: sign_rate KEY.pem [SECONDS]")?;
    let seconds: f64 = args.next().map_or(Ok(3.0), |s| s.parse())?;
    let threads: usize = args.next().map_or(Ok(1), |s| s.parse())?;
    let generator = JwtGenerator::builder()
        .signing_key_pem_file(&key_path)
        .issuer("bench")
        .build()?;
    let alg = generator.signing_key().algorithm();
    let started = Instant::now();
    let count: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let who = Identity::anonymous();
                    let request = AccessRequest::new("registry.bench", vec![]);
                    let granted = [Scope::repository("bench/app", ["pull"])];
                    let mut count: u64 = 0;
                    while started.elapsed().as_secs_f64() < seconds {
                        for _ in 0..16 {
                            if generator.generate(&who, &granted, &request).is_ok() {
                                count += 1;
                            }
                        }
                    }
                    count
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
    });
    let rate = count as f64 / started.elapsed().as_secs_f64();
    println!("{alg} {rate:.0} tokens/s on {} thread(s)", threads.max(1));
    Ok(())
}
