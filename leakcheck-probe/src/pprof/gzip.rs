//! gzip framing (RFC 1952) around `miniz_oxide`'s deflate.
//!
//! `miniz_oxide` is already compiled into every user of this crate (the `backtrace` crate's
//! symbolizer inflates compressed debug sections with it); we only turn on its `with-alloc`
//! feature. `flate2` would add itself, `crc32fast` and `cfg-if` for what is here a header, a
//! trailer and a CRC table (clean build with `-j1`: miniz_oxide+adler2 without `with-alloc`
//! 0.7 s, with it 1.3 s, flate2 and its dependencies 2.3 s; release 1.0 / 2.0 / 3.8 s).

use miniz_oxide::inflate::{decompress_to_vec_with_limit, TINFLStatus};

/// The first two bytes of every gzip member.
const MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The largest profile that is inflated (a heap profile of 100k live samples is a few MiB): a
/// file that inflates past this is refused, not read into memory.
const MAX_INFLATED: usize = 1 << 30;

/// Deflate level: fastest, as Go's `runtime/pprof` writes its profiles (`gzip.BestSpeed`):
/// a profile is written while a service runs, and level 6 took about twice as long for a
/// few percent less.
const LEVEL: u8 = 1;

/// Whether `data` starts like gzip.
pub(crate) fn is_gzip(data: &[u8]) -> bool {
    data.starts_with(&MAGIC)
}

/// `data` as one gzip member.
pub(crate) fn compress(data: &[u8]) -> Vec<u8> {
    let deflated = miniz_oxide::deflate::compress_to_vec(data, LEVEL);
    let mut out = Vec::with_capacity(deflated.len() + 18);
    // Deflate, no flags, no mtime (the profile carries its own time), no extra flags, OS unknown.
    out.extend_from_slice(&[MAGIC[0], MAGIC[1], 8, 0, 0, 0, 0, 0, 0, 255]);
    out.extend_from_slice(&deflated);
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// The content of one gzip member, checked against its CRC and length.
pub(crate) fn decompress(data: &[u8]) -> Result<Vec<u8>, &'static str> {
    const FHCRC: u8 = 2;
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    if data.len() < 18 || !is_gzip(data) {
        return Err("the gzip data is cut short");
    }
    if data[2] != 8 {
        return Err("the gzip data is not deflate-compressed");
    }
    let flags = data[3];
    let mut pos = 10;
    if flags & FEXTRA != 0 {
        let len = data
            .get(pos..pos + 2)
            .ok_or("the gzip header is cut short")?;
        pos += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let rest = data.get(pos..).ok_or("the gzip header is cut short")?;
            pos += 1 + rest
                .iter()
                .position(|&b| b == 0)
                .ok_or("the gzip header is cut short")?;
        }
    }
    if flags & FHCRC != 0 {
        pos += 2;
    }
    let body = data
        .get(pos..data.len() - 8)
        .ok_or("the gzip header is cut short")?;
    let out = decompress_to_vec_with_limit(body, MAX_INFLATED).map_err(|e| match e.status {
        TINFLStatus::HasMoreOutput => "the profile inflates to more than 1 GiB",
        _ => "the gzip data is damaged (deflate stream)",
    })?;
    let trailer = &data[data.len() - 8..];
    let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    if crc != crc32(&out) || size != out.len() as u32 {
        return Err("the gzip data is damaged (checksum mismatch) or has several members");
    }
    Ok(out)
}

/// CRC-32 (IEEE, reflected), byte-wise with a table built at compile time.
fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    !data.iter().fold(!0u32, |c, &b| {
        TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        // The check value of CRC-32/ISO-HDLC for "123456789".
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn round_trips_and_the_system_gzip_reads_it() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let packed = compress(&data);
        assert!(packed.len() < data.len() / 4, "{}", packed.len());
        assert_eq!(decompress(&packed).unwrap(), data);

        // An independent reader: gzip(1), part of every Debian base system.
        let mut child = std::process::Command::new("gzip")
            .args(["-d", "-c"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("gzip is installed");
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            use std::io::Write as _;
            stdin.write_all(&packed).unwrap();
        });
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap();
        assert!(output.status.success());
        assert_eq!(output.stdout, data);

        // And the other way round: what gzip(1) writes (with a file name in its header) reads.
        let dir = std::env::temp_dir().join(format!("leakcheck-gzip-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("profile.pb");
        std::fs::write(&file, &data).unwrap();
        let output = std::process::Command::new("gzip")
            .args(["-c", "-N"])
            .arg(&file)
            .output()
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(output.stdout[3] & 8, 8, "FNAME is set");
        assert_eq!(decompress(&output.stdout).unwrap(), data);
    }

    #[test]
    fn damaged_data_is_an_error() {
        let mut packed = compress(b"hello hello hello hello");
        let n = packed.len();
        packed[n - 6] ^= 1; // the CRC
        assert!(decompress(&packed).is_err());
        assert!(decompress(&packed[..12]).is_err());
        assert!(decompress(b"not gzip at all, not at all").is_err());
    }
}
