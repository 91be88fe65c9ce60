//! Giving back the pages of an embedded store's memory-mapped files.
//!
//! The embedded vector store (Qdrant Edge) keeps its vectors, payloads and indexes in
//! memory-mapped files. A page written through a mapping stays mapped, and counts in the
//! process's resident set, until the mapping goes: over a bulk load that is every vector and
//! payload written, growing with the collection (about 80 MB at the benchmark's 10x scale),
//! although an ingest run never reads them back. After each flush the written pages are clean
//! on disk, and [`page_out_under`] asks the kernel to reclaim the pages of every mapping of a
//! file under the store's directory (`MADV_PAGEOUT`, Linux 5.4+). The advice never changes what
//! a mapping reads: a page needed again is read back from the file. Elsewhere, or on an older
//! kernel, it does nothing.

use std::path::Path;

/// Mappings of files under `dir` (canonical, as the kernel names them) in `maps`, the text
/// of `/proc/self/maps`: (start, end) address pairs.
pub fn mappings_under(maps: &str, dir: &Path) -> Vec<(usize, usize)> {
    let Some(dir) = dir.to_str() else {
        return Vec::new();
    };
    let dir = dir.trim_end_matches('/');
    let mut out = Vec::new();
    for line in maps.lines() {
        // start-end perms offset dev inode path (the path may hold spaces)
        let mut parts = line.splitn(6, ' ');
        let (Some(range), Some(path)) = (parts.next(), parts.nth(4)) else {
            continue;
        };
        let path = path.trim_start();
        let inside = path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'));
        if !inside {
            continue;
        }
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
            if b > a {
                out.push((a, b));
            }
        }
    }
    out
}

/// Ask the kernel to reclaim the resident pages of every mapping of a file under `dir`.
/// Returns the bytes of address space advised (0 where this is not supported).
pub fn page_out_under(dir: &Path) -> usize {
    #[cfg(target_os = "linux")]
    {
        let Ok(dir) = std::fs::canonicalize(dir) else {
            return 0;
        };
        let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
            return 0;
        };
        let mut advised = 0;
        for (start, end) in mappings_under(&maps, &dir) {
            // SAFETY: MADV_PAGEOUT is advice about residency only: it never changes the
            // contents of any mapping (file pages are read back, anonymous pages swapped or
            // left alone), so it is sound even if the range was remapped since `maps` was read.
            let rc = unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_PAGEOUT)
            };
            if rc == 0 {
                advised += end - start;
            }
        }
        advised
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_mappings_of_files_under_a_directory_only() {
        let maps = "\
7f0000000000-7f0000400000 rw-s 00000000 fd:01 123 /data/vectors/m/segments/a/vectors/chunk_0.mmap
7f0000400000-7f0000401000 r--p 00000000 fd:01 124 /data/vectors/m/wal/open-1
7f0000500000-7f0000600000 r--p 00000000 fd:01 125 /data/vectors-other/x
7f0000600000-7f0000700000 rw-p 00000000 00:00 0 
7f0000700000-7f0000800000 r--p 00000000 fd:01 126 /data/vectors/m/with space/file (deleted)
55d000000000-55d000100000 r-xp 00000000 fd:01 127 /usr/bin/ingest";
        let got = mappings_under(maps, Path::new("/data/vectors/"));
        assert_eq!(
            got,
            vec![
                (0x7f0000000000, 0x7f0000400000),
                (0x7f0000400000, 0x7f0000401000),
                (0x7f0000700000, 0x7f0000800000),
            ]
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn written_pages_of_a_mapped_file_leave_memory_and_keep_their_contents() {
        use std::os::unix::io::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.mmap");
        let len = 64 * 4096;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        file.set_len(len as u64).unwrap();
        // SAFETY: a fresh shared mapping of a file of `len` bytes, unmapped below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED);
        let bytes = ptr as *mut u8;
        let resident = || {
            let mut vec = vec![0u8; len / 4096];
            // SAFETY: `vec` has one byte per page of the mapping.
            assert_eq!(unsafe { libc::mincore(ptr, len, vec.as_mut_ptr()) }, 0);
            vec.iter().filter(|&&b| b & 1 == 1).count()
        };
        for page in 0..len / 4096 {
            // SAFETY: within the mapping.
            unsafe { *bytes.add(page * 4096 + 7) = page as u8 + 1 };
        }
        // SAFETY: the mapping, as mapped.
        assert_eq!(unsafe { libc::msync(ptr, len, libc::MS_SYNC) }, 0);
        assert_eq!(resident(), 64);
        assert_eq!(page_out_under(dir.path()), len);
        assert!(resident() < 8, "{} of 64 pages still resident", resident());
        for page in 0..len / 4096 {
            // SAFETY: within the mapping.
            assert_eq!(unsafe { *bytes.add(page * 4096 + 7) }, page as u8 + 1);
        }
        // SAFETY: unmapping what was mapped above.
        unsafe { libc::munmap(ptr, len) };
        // Nothing under another directory is touched.
        assert_eq!(page_out_under(tempfile::tempdir().unwrap().path()), 0);
    }
}
