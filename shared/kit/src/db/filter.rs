//! The WHERE clause of a listing, built condition by condition with numbered parameters, so a
//! list RPC with optional filters writes each condition once and binds what it holds.

/// The WHERE clause of a listing, built condition by condition with numbered parameters.
#[derive(Default)]
pub struct Filter {
    conditions: Vec<String>,
    values: Vec<Value>,
}

/// A bound parameter.
pub enum Value {
    /// A text value.
    Text(String),
    /// An integer value.
    Int(i64),
    /// A text value or NULL.
    OptionalText(Option<String>),
    /// A byte string.
    Bytes(Vec<u8>),
}

impl Value {
    /// `query` with this value bound as its next parameter.
    pub(crate) fn bind<'q>(
        self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        match self {
            Value::Text(s) => query.bind(s),
            Value::Int(i) => query.bind(i),
            Value::OptionalText(s) => query.bind(s),
            Value::Bytes(b) => query.bind(b),
        }
    }
}

impl Filter {
    /// Adds `condition`, whose `?` marks stand for `values` in order.
    pub fn push(&mut self, condition: &str, values: Vec<Value>) {
        let mut out = String::new();
        let mut values = values.into_iter();
        for (i, part) in condition.split('?').enumerate() {
            if i > 0 {
                if let Some(v) = values.next() {
                    self.values.push(v);
                }
                out.push_str(&format!("${}", self.values.len()));
            }
            out.push_str(part);
        }
        self.conditions.push(out);
    }

    /// Adds `condition` with one text parameter.
    pub fn text(&mut self, condition: &str, value: impl Into<String>) {
        self.push(condition, vec![Value::Text(value.into())]);
    }

    /// Adds `condition` with one integer parameter.
    pub fn int(&mut self, condition: &str, value: i64) {
        self.push(condition, vec![Value::Int(value)]);
    }

    /// `WHERE ...`, or nothing.
    pub fn clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.conditions.join(" AND "))
        }
    }

    /// The query for `sql` (written with this filter's clause) with the parameters bound.
    pub fn query(
        self,
        sql: String,
    ) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for v in self.values {
            query = v.bind(query);
        }
        query
    }
}
