//! Reading opportunities: one by id (the hot path, coalesced) and keyset pages of a listing.

use closeloop_kit::Problem;
use sqlx::Row;

use super::{ListFilter, Store, document};
use crate::domain::opportunity::{Opportunity, OpportunityId};

/// A page of a listing as stored.
#[derive(Debug)]
pub struct Listed {
    /// The opportunities, in order.
    pub opportunities: Vec<Opportunity>,
    /// Bytes of their stored documents: an answer takes at most four times as many (a
    /// document is compact MessagePack; the answer adds derived figures and field tags).
    pub stored_bytes: usize,
}

impl Store {
    /// Reads one opportunity's stored document.
    ///
    /// # Errors
    /// Database errors.
    pub async fn get_document(&self, id: &OpportunityId) -> Result<Option<Vec<u8>>, Problem> {
        self.documents.get(id.as_str()).await
    }

    /// Reads one opportunity.
    ///
    /// # Errors
    /// Database errors.
    pub async fn get(&self, id: &OpportunityId) -> Result<Option<Opportunity>, Problem> {
        self.get_document(id)
            .await?
            .map(|body| document::decode(&body))
            .transpose()
    }

    /// The stored document of an opportunity.
    ///
    /// # Errors
    /// INTERNAL when it does not encode.
    pub fn document(o: &Opportunity) -> Result<Vec<u8>, Problem> {
        document::encode(o)
    }

    /// Parses a stored document.
    ///
    /// # Errors
    /// INTERNAL when the document does not parse.
    pub fn parse_document(body: &[u8]) -> Result<Opportunity, Problem> {
        document::decode(body)
    }

    /// Lists opportunities after `after` (an id), oldest first, at most `limit`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list(
        &self,
        filter: &ListFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Listed, Problem> {
        let mut conditions = Vec::new();
        let mut values: Vec<String> = Vec::new();
        let mut push = |condition: &str, value: String| {
            values.push(value);
            conditions.push(condition.replace('?', &format!("${}", values.len())));
        };
        if let Some(after) = after {
            push("id > ?", after.to_owned());
        }
        if let Some(owner) = &filter.owner {
            push("owner = ?", owner.clone());
        }
        if let Some(account) = &filter.account_id {
            push("account_id = ?", account.clone());
        }
        if let Some(stage) = filter.stage {
            push("stage = ?", stage.code().to_owned());
        }
        if let Some(kind) = filter.kind {
            push("kind = ?", kind.code().to_owned());
        }
        if filter.open_only {
            conditions.push("is_open = 1".to_owned());
        }
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql =
            format!("SELECT body FROM opportunities {where_clause} ORDER BY id LIMIT {limit}");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for v in values {
            query = query.bind(v);
        }
        let rows = query.fetch_all(self.db.reads()).await?;
        let mut stored_bytes = 0;
        let opportunities = rows
            .iter()
            .map(|r| {
                let body: Vec<u8> = r.try_get(0)?;
                stored_bytes += body.len();
                document::decode(&body)
            })
            .collect::<Result<_, Problem>>()?;
        Ok(Listed {
            opportunities,
            stored_bytes,
        })
    }
}
