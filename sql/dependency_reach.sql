-- Services reachable from one service within max_depth hops, with their shortest distance.
--
-- {near} / {far} are the edge columns for the walk direction (downstream: source -> target,
-- upstream: target -> source); the caller substitutes only those two whitelisted column names.
-- UNION (not UNION ALL) deduplicates (service, depth) pairs, so a cycle cannot loop forever:
-- the walk stops at the depth bound whatever the graph's shape. Whether more lies beyond the
-- bound is asked separately, with a query that stops at the first edge leaving the frontier.
WITH RECURSIVE walk (service_pk, depth) AS (
    SELECT s.id, 0
    FROM services AS s
    WHERE s.service_id = :service_id

    UNION

    SELECT d.{far}, w.depth + 1
    FROM walk AS w
    JOIN service_dependencies AS d ON d.{near} = w.service_pk
    WHERE w.depth < :max_depth
      AND (d.is_stale = FALSE OR :include_stale)
)
SELECT service_pk, MIN(depth) AS depth
FROM walk
GROUP BY service_pk
