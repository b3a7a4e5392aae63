-- KPI sums per queue and finished 15-minute interval (see tsunagu_domain::kpi::Sums):
-- reports add them up instead of reading every event again. Written when the center's
-- local day turns (or the first time a report needs a past day), corrected when a contact
-- of a finished day changes later. kpi_days marks the days whose intervals are stored.
CREATE TABLE kpi_intervals (
    tenant_id          BIGINT NOT NULL REFERENCES tenants (id),
    queue_id           BIGINT NOT NULL,
    start_at           BIGINT NOT NULL,
    end_at             BIGINT NOT NULL,
    offered            BIGINT NOT NULL,
    answered           BIGINT NOT NULL,
    abandoned          BIGINT NOT NULL,
    short_abandoned    BIGINT NOT NULL,
    overflowed         BIGINT NOT NULL,
    timed_out          BIGINT NOT NULL,
    interrupted        BIGINT NOT NULL,
    transferred_out    BIGINT NOT NULL,
    in_queue           BIGINT NOT NULL,
    within_sl          BIGINT NOT NULL,
    queue_ms_answered  BIGINT NOT NULL,
    handled            BIGINT NOT NULL,
    talk_ms            BIGINT NOT NULL,
    hold_ms            BIGINT NOT NULL,
    acw_ms             BIGINT NOT NULL,
    handling_ms        BIGINT NOT NULL,
    idle_ms            BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, queue_id, start_at)
);
CREATE INDEX kpi_intervals_tenant_start ON kpi_intervals (tenant_id, start_at);

CREATE TABLE kpi_days (
    tenant_id  BIGINT NOT NULL REFERENCES tenants (id),
    day_start  BIGINT NOT NULL,
    day_end    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day_start)
);
