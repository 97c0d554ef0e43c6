//! CPU cost of one decrypt through the function's own `EsdkDecrypter`, with no network: the public development
//! keyring (raw AES) stands in for KMS, so what is left is the Encryption SDK's work (message parsing, HKDF,
//! AES-GCM and the ECDSA P-384 signature check Cognito's suite carries) plus ours around it.
//!
//! ```sh
//! cargo run --release --example decrypt_cost -- 2000
//! ```
//! It prints CPU microseconds per decrypt (user+sys, from getrusage) so a change to the decrypt path can be
//! judged before and after; `bench/run` measures the whole function.

use cognito_sms_sender::decrypt::esdk::{self, EsdkDecrypter};
use cognito_sms_sender::decrypt::Decrypter;
use cognito_sms_sender::dev::encrypt::{encrypt_code, Suite};

fn cpu_seconds() -> f64 {
    // SAFETY: rusage is plain integers, for which all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

#[tokio::main]
async fn main() {
    let n: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let key = [7u8; 32];
    let keyring = esdk::dev_keyring(&key).await.expect("dev keyring");
    let pool = "us-east-1_EXAMPLE";
    let code = encrypt_code(&keyring, pool, b"123456", Suite::Cognito).await.expect("encrypt");
    let decrypter = EsdkDecrypter::new(keyring).await.expect("decrypter");
    for _ in 0..20 {
        decrypter.decrypt(&code, pool).await.expect("decrypt");
    }
    let (cpu, wall) = (cpu_seconds(), std::time::Instant::now());
    for _ in 0..n {
        let plain = decrypter.decrypt(&code, pool).await.expect("decrypt");
        assert_eq!(plain.as_str(), "123456");
    }
    let (cpu, wall) = (cpu_seconds() - cpu, wall.elapsed().as_secs_f64());
    println!("{n} decrypts: {:.1} us CPU each, {:.1} us wall each", cpu * 1e6 / n as f64, wall * 1e6 / n as f64);
}
