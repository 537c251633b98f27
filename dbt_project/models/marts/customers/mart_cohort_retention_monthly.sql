-- One row per monthly cohort × month since it. The logic lives in
-- macros/cohort_retention.sql, shared with the weekly mart (DECISIONS.md: Cohort retention).

{{ cohort_retention('month') }}
