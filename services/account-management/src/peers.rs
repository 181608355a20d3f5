//! The synchronous read the service makes of a peer: GetAccountBalance on contracts-and-payments,
//! for health and lifetime value, with the channel's deadline (`outbox.call_timeout_ms`). It is
//! never made inside a transaction; when it cannot be read, the answer is the domain's
//! [`PaymentData::Unavailable`] with the reason, and health and lifetime value say so.

use closeloop_kit::client::{PeerChannel, ServiceCredentials};
use closeloop_kit::convert::{money, optional_date};
use closeloop_kit::outbox::code_name;
use closeloop_kit::types::CurrencyCode;
use closeloop_proto::contracts::v1 as contracts;
use closeloop_proto::contracts::v1::payment_service_client::PaymentServiceClient;

use crate::domain::health::{PaymentData, PaymentStanding};
use crate::domain::limits::{MAX_STATUS_NOTE, cut};

/// contracts-and-payments' PaymentService, as health and lifetime value read it.
#[derive(Clone)]
pub struct Payments {
    channel: PeerChannel,
    credentials: ServiceCredentials,
}

impl Payments {
    /// Reads over `channel` (which carries the call deadline) as `credentials`.
    pub fn new(channel: PeerChannel, credentials: ServiceCredentials) -> Self {
        Payments {
            channel,
            credentials,
        }
    }

    /// The payment standing of customer `account_id` in `currency`, read at `now`.
    pub async fn standing(
        &self,
        account_id: &str,
        currency: CurrencyCode,
        now: i64,
    ) -> PaymentData {
        let mut request = tonic::Request::new(contracts::GetAccountBalanceRequest {
            account_id: account_id.to_owned(),
            currency_code: currency.as_str().to_owned(),
        });
        self.credentials.prepare(&mut request);
        match PaymentServiceClient::new(self.channel.clone())
            .get_account_balance(request)
            .await
        {
            Ok(answer) => standing(&answer.into_inner(), currency, now),
            Err(status) => PaymentData::Unavailable(format!(
                "contracts-and-payments answered {}: {}",
                code_name(status.code()),
                cut(status.message(), MAX_STATUS_NOTE)
            )),
        }
    }
}

/// What a peer that is not configured gives.
pub fn not_configured() -> PaymentData {
    PaymentData::Unavailable("contracts-and-payments is not configured (peer \"contracts\")".into())
}

/// An AccountBalance in the domain's words; unavailable when it does not read as one.
fn standing(b: &contracts::AccountBalance, currency: CurrencyCode, now: i64) -> PaymentData {
    let minor = |m: Option<&closeloop_proto::common::v1::Money>| -> Result<i64, String> {
        match m {
            None => Ok(0),
            Some(m) => {
                let m = money(Some(m))?;
                if m.currency == currency {
                    Ok(m.minor)
                } else {
                    Err(format!(
                        "contracts-and-payments answered in {}, not {currency}",
                        m.currency
                    ))
                }
            }
        }
    };
    let read = || -> Result<PaymentStanding, String> {
        Ok(PaymentStanding {
            currency,
            paid_to_date: minor(b.paid_to_date.as_ref())?,
            outstanding: minor(b.outstanding.as_ref())?,
            overdue: minor(b.overdue.as_ref())?,
            next_due_date: optional_date(b.next_due_date.as_ref())?,
            next_due_amount: minor(b.next_due_amount.as_ref())?,
            max_days_past_due: i64::from(b.max_days_past_due.max(0)),
            read_time: now,
        })
    };
    match read() {
        Ok(s) => PaymentData::Available(s),
        Err(why) => {
            PaymentData::Unavailable(format!("an AccountBalance that does not read: {why}"))
        }
    }
}
