//! Bank accounts that move money to each other through actor calls.
//!
//! `transfer` debits this account inside its own turn and calls `deposit` on the other
//! account, which commits in that account's own turn. If the deposit fails, this turn fails
//! and the debit is dropped. Each account's turn is atomic; the pair of turns is not (see
//! the README).

use serde::Deserialize;
use warren_guest::prelude::*;

struct Account;

#[derive(Deserialize)]
struct Transfer {
    to: String,
    amount: i64,
}

fn positive(amount: i64) -> Result<i64, Error> {
    if amount > 0 {
        Ok(amount)
    } else {
        Err(Error::InvalidArgument(format!(
            "amount must be a positive integer, got {amount}"
        )))
    }
}

fn debit(balance: i64, amount: i64) -> Result<i64, Error> {
    let amount = positive(amount)?;
    if amount > balance {
        return Err(Error::Failed(format!(
            "insufficient funds: balance {balance}, asked {amount}"
        )));
    }
    Ok(balance - amount)
}

impl Actor for Account {
    fn manifest() -> Manifest {
        Manifest::new("bank").with_type(
            ActorType::new("account")
                .description("A bank account holding an integer balance")
                .actions(["deposit", "withdraw", "balance", "transfer"]),
        )
    }

    fn handle(ctx: &Context, action: &str, payload: &[u8]) -> Result<Vec<u8>, Error> {
        let balance: i64 = state::get_json("balance")?.unwrap_or(0);
        let balance = match action {
            "balance" => balance,
            "deposit" => balance + positive(json(payload)?)?,
            "withdraw" => debit(balance, json(payload)?)?,
            "transfer" => {
                let transfer: Transfer = json(payload)?;
                if transfer.to == ctx.target.id {
                    return Err(Error::InvalidArgument(
                        "cannot transfer to the same account".into(),
                    ));
                }
                let balance = debit(balance, transfer.amount)?;
                let to = actors::actor("account", &transfer.to);
                actors::call(&to, "deposit", &to_json(&transfer.amount)?)?;
                balance
            }
            other => return Err(Error::NotFound(format!("account has no action {other:?}"))),
        };
        state::set_json("balance", &balance)?;
        to_json(&balance)
    }
}

warren_guest::actor!(Account);
