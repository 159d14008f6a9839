-- sli_daily: one row per service for one UTC day, rolled up from that day's sli_hourly.
-- Reads the view `sli_hourly_day` (the day's Parquet file(s), every sli_hourly column present);
-- parameters: $day (the partition, DATE) and $width (buckets per histogram, +Inf included).
-- Counts are summed over the hours with data, as the recommendations read them; the cumulative
-- `le` buckets are summed position by position (a sum of cumulative histograms is the
-- cumulative histogram of the union), over the hours whose histogram has the right width.
WITH hours AS (
    SELECT
        service,
        requests,
        errors,
        latency_buckets,
        cpu_throttling,
        coalesce(has_data, false) AS has_data,
        coalesce(errors_clamped, false) AS errors_clamped
    FROM sli_hourly_day
),
per_service AS (
    SELECT
        service,
        count(*) AS hours,
        count(*) FILTER (WHERE has_data) AS hours_with_data,
        CAST(sum(requests) FILTER (WHERE has_data) AS BIGINT) AS requests,
        CAST(sum(errors) FILTER (WHERE has_data) AS BIGINT) AS errors,
        avg(cpu_throttling) FILTER (WHERE has_data) AS cpu_throttling,
        count(*) FILTER (WHERE errors_clamped) AS errors_clamped_hours
    FROM hours
    GROUP BY service
),
bucket_counts AS (
    SELECT service, position, CAST(sum(count) AS BIGINT) AS count
    FROM (
        SELECT
            service,
            generate_subscripts(latency_buckets, 1) AS position,
            unnest(latency_buckets) AS count
        FROM hours
        WHERE has_data AND len(latency_buckets) = $width
    )
    GROUP BY service, position
),
merged AS (
    SELECT service, list(count ORDER BY position) AS latency_buckets
    FROM bucket_counts
    GROUP BY service
)
SELECT
    p.service,
    CAST($day AS DATE) AS day,
    p.requests,
    p.errors,
    CASE WHEN p.requests > 0 THEN 1.0 - p.errors / p.requests END AS availability,
    m.latency_buckets,
    p.cpu_throttling,
    p.hours,
    p.hours_with_data,
    p.hours_with_data / 24.0 AS data_completeness,
    p.errors_clamped_hours
FROM per_service AS p
LEFT JOIN merged AS m USING (service)
ORDER BY p.service
