//! `#[kasync_host::test]` and `#[kasync_host::main]` as users write them.

use std::time::Duration;

#[kasync_host::test]
async fn a_test_runs_on_a_runtime() {
    let task = kasync_host::spawn(async { 40 + 2 }).unwrap();
    kasync_host::sleep(Duration::from_millis(1)).await;
    assert_eq!(task.await.unwrap(), 42);
}

#[kasync_host::test]
async fn a_test_may_return_a_result() -> Result<(), std::io::Error> {
    let listener = kasync_host::net::TcpListener::bind("127.0.0.1:0")?;
    listener.local_addr()?;
    Ok(())
}

/// The `main` attribute on an ordinary function name, called like one.
#[kasync_host::main]
async fn entry() -> u32 {
    kasync_host::sleep(Duration::from_millis(1)).await;
    7
}

#[test]
fn main_runs_its_body_to_completion() {
    assert_eq!(entry(), 7);
}

/// Borrowed and moved captures in the body behave as in any `async move`
/// block.
#[kasync_host::test]
async fn the_body_is_an_async_move_block() {
    let text = String::from("owned");
    let len = kasync_host::spawn(async move { text.len() })
        .unwrap()
        .await
        .unwrap();
    assert_eq!(len, 5);
}

/// `kasync_host::test` imported under the name `test`: the attribute it
/// puts in front is the built-in `#[test]`, not itself again.
mod imported {
    use kasync_host::test;

    #[test]
    async fn the_imported_attribute_runs_the_test() {
        kasync_host::sleep(std::time::Duration::from_millis(1)).await;
    }
}
