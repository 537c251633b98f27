-- One row per weekly cohort (ISO week, Monday start) × week since it. The logic lives in
-- macros/cohort_retention.sql, shared with the monthly mart (DECISIONS.md: Cohort retention).

{{ cohort_retention('week') }}
