//! Process-wide close counters: the first use of a chunk raced from
//! four threads, and numbers at the ends of the range (negative,
//! `i32::MAX`, `i32::MIN`) — no crash, no allocation failure, miri-clean.

/// Four threads count closes on the same fresh chunk and on odd numbers.
#[test]
fn racing_first_use_of_a_chunk_and_odd_numbers() {
    let n = if cfg!(miri) { 4 } else { 1000 };
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..n {
                    kasync_poll::closing(7 * 65536 + i);
                    kasync_poll::closing(-1 - t);
                    kasync_poll::closing(i32::MAX - i);
                    kasync_poll::closing(i32::MIN + i);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
