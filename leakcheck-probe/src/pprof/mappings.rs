//! The executable mappings of this process (`/proc/self/maps`) with the GNU build id of each
//! mapped file, read from the ELF note `NT_GNU_BUILD_ID` in the file's `PT_NOTE` segments.
//! A profiler that finds a location's mapping and build id can fetch the right debug info
//! later (Parca, Polar Signals, `pprof -symbolize`), even when the binary was rebuilt since.

use super::Mapping;
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};

/// The executable mappings of this process, the main binary first (pprof reads `mapping[0]`
/// as the main binary). Empty where `/proc/self/maps` cannot be read.
pub fn current() -> Vec<Mapping> {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return Vec::new();
    };
    let exe = std::fs::read_link("/proc/self/exe")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut build_ids: HashMap<String, Option<String>> = HashMap::new();
    let mut mappings: Vec<Mapping> = parse_maps(&maps)
        .into_iter()
        .map(|mut m| {
            if m.file.starts_with('/') {
                m.build_id = build_ids
                    .entry(m.file.clone())
                    .or_insert_with(|| build_id_of(&m.file))
                    .clone();
            }
            m
        })
        .collect();
    // A stable sort: the main binary's mappings first, the rest in address order.
    mappings.sort_by_key(|m| m.file != exe);
    mappings
}

/// The executable mappings listed in a `/proc/PID/maps` text (no build ids read).
pub(crate) fn parse_maps(maps: &str) -> Vec<Mapping> {
    maps.lines()
        .filter_map(|line| {
            // start-limit perms offset dev inode [path, which may hold spaces]
            let mut fields = line.splitn(6, ' ');
            let (range, perms, offset) = (fields.next()?, fields.next()?, fields.next()?);
            let (_dev, _inode) = (fields.next()?, fields.next()?);
            let file = fields.next().unwrap_or("").trim_start();
            if perms.as_bytes().get(2) != Some(&b'x') {
                return None;
            }
            let (start, limit) = range.split_once('-')?;
            Some(Mapping {
                start: u64::from_str_radix(start, 16).ok()?,
                limit: u64::from_str_radix(limit, 16).ok()?,
                offset: u64::from_str_radix(offset, 16).ok()?,
                file: file.to_owned(),
                build_id: None,
                ..Mapping::default()
            })
        })
        .collect()
}

/// The GNU build id of an ELF file as lowercase hex, `None` when it has none or is no ELF.
pub fn build_id_of(path: &str) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
    build_id(&mut file)
}

/// Reads the build id from an ELF image: header, program headers, then the `PT_NOTE` segments.
pub(crate) fn build_id(file: &mut (impl Read + Seek)) -> Option<String> {
    const PT_NOTE: u32 = 4;
    const NT_GNU_BUILD_ID: u32 = 3;
    /// Notes are small; a segment larger than this is not read.
    const MAX_NOTES: u64 = 1 << 16;

    let mut header = [0u8; 64];
    file.read_exact(&mut header[..52]).ok()?;
    if header[..4] != *b"\x7fELF" {
        return None;
    }
    let wide = match header[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let big = match header[5] {
        1 => false,
        2 => true,
        _ => return None,
    };
    if wide {
        file.read_exact(&mut header[52..64]).ok()?;
    }
    let e = Endian(big);
    let (phoff, phentsize, phnum) = if wide {
        (
            e.u64(&header[32..]),
            e.u16(&header[54..]),
            e.u16(&header[56..]),
        )
    } else {
        (
            u64::from(e.u32(&header[28..])),
            e.u16(&header[42..]),
            e.u16(&header[44..]),
        )
    };
    let mut ph = vec![0u8; usize::from(phentsize)];
    if ph.len() < if wide { 56 } else { 32 } {
        return None;
    }
    for i in 0..u64::from(phnum) {
        file.seek(SeekFrom::Start(phoff + i * u64::from(phentsize)))
            .ok()?;
        file.read_exact(&mut ph).ok()?;
        if e.u32(&ph) != PT_NOTE {
            continue;
        }
        let (offset, size, align) = if wide {
            (e.u64(&ph[8..]), e.u64(&ph[32..]), e.u64(&ph[48..]))
        } else {
            (
                u64::from(e.u32(&ph[4..])),
                u64::from(e.u32(&ph[16..])),
                u64::from(e.u32(&ph[28..])),
            )
        };
        if size > MAX_NOTES {
            continue;
        }
        let mut notes = vec![0u8; size as usize];
        file.seek(SeekFrom::Start(offset)).ok()?;
        file.read_exact(&mut notes).ok()?;
        // Name and descriptor are padded to the segment's alignment: 4, or 8 for the notes
        // newer linkers put in an 8-aligned segment.
        let pad = if align == 8 { 8 } else { 4 };
        let mut at = 0usize;
        while at + 12 <= notes.len() {
            let namesz = e.u32(&notes[at..]) as usize;
            let descsz = e.u32(&notes[at + 4..]) as usize;
            let kind = e.u32(&notes[at + 8..]);
            let name_at = at + 12;
            let desc_at = name_at + namesz.div_ceil(pad) * pad;
            let end = desc_at + descsz.div_ceil(pad) * pad;
            let (Some(name), Some(desc)) = (
                notes.get(name_at..name_at + namesz),
                notes.get(desc_at..desc_at + descsz),
            ) else {
                break;
            };
            if kind == NT_GNU_BUILD_ID && name == b"GNU\0" {
                return Some(desc.iter().map(|b| format!("{b:02x}")).collect());
            }
            at = end;
        }
    }
    None
}

/// Reads integers in the file's byte order.
#[derive(Clone, Copy)]
struct Endian(bool);

impl Endian {
    fn u16(self, b: &[u8]) -> u16 {
        let b = [b[0], b[1]];
        if self.0 {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    }
    fn u32(self, b: &[u8]) -> u32 {
        let b = [b[0], b[1], b[2], b[3]];
        if self.0 {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }
    fn u64(self, b: &[u8]) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        if self.0 {
            u64::from_be_bytes(a)
        } else {
            u64::from_le_bytes(a)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_executable_mappings_with_paths_that_hold_spaces() {
        let maps = "\
55d0c0a00000-55d0c0a21000 r--p 00000000 fd:01 123 /usr/bin/my service\n\
55d0c0a21000-55d0c0b00000 r-xp 00021000 fd:01 123 /usr/bin/my service\n\
7ffd5e9f0000-7ffd5e9f2000 r-xp 00000000 00:00 0                          [vdso]\n\
7f0000000000-7f0000001000 rw-p 00000000 00:00 0 \n";
        let got = parse_maps(maps);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].start, 0x55d0_c0a2_1000);
        assert_eq!(got[0].limit, 0x55d0_c0b0_0000);
        assert_eq!(got[0].offset, 0x21000);
        assert_eq!(got[0].file, "/usr/bin/my service");
        assert_eq!(got[1].file, "[vdso]");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_build_id_of_this_test_binary_is_the_one_readelf_prints() {
        let exe = std::env::current_exe().unwrap();
        let ours = build_id_of(exe.to_str().unwrap());
        // readelf (binutils) is on every machine that links Rust with cc.
        let out = std::process::Command::new("readelf")
            .arg("-n")
            .arg(&exe)
            .output()
            .expect("readelf is installed");
        let text = String::from_utf8_lossy(&out.stdout);
        let theirs = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Build ID: "))
            .map(str::to_owned);
        assert!(theirs.is_some(), "the test binary has no build id:\n{text}");
        assert_eq!(ours, theirs);

        let mappings = current();
        assert_eq!(mappings[0].file, exe.display().to_string(), "{mappings:?}");
        assert_eq!(mappings[0].build_id, theirs);
        let here =
            the_build_id_of_this_test_binary_is_the_one_readelf_prints as *const () as usize as u64;
        assert!(mappings
            .iter()
            .any(|m| m.start <= here && here < m.limit && m.file == mappings[0].file));
    }

    #[test]
    fn other_files_have_no_build_id() {
        let mut not_elf = std::io::Cursor::new(b"#!/bin/sh\necho hi\n".to_vec());
        assert_eq!(build_id(&mut not_elf), None);
        let mut truncated = std::io::Cursor::new(b"\x7fELF\x02\x01".to_vec());
        assert_eq!(build_id(&mut truncated), None);
    }
}
