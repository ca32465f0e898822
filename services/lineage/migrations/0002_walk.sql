-- The walk in one statement: breadth first from a node, each generation
-- one index-only scan of the edges, every node visited once (the visited
-- set is subtracted with a hashed EXCEPT), up to max_depth generations or
-- max_nodes nodes. Returns the nodes, (node, generation) with the root at
-- 0, and the edges the walk crossed, (input, output) with a NULL node; an
-- edge may lead to a node cut off by max_nodes, and a row with neither
-- says the walk stopped there with more to visit. One round trip instead
-- of one per generation: on a busy machine each round trip between the
-- service and Postgres is a pair of context switches.
CREATE FUNCTION lineage_walk(root uuid, upstream boolean, max_depth int, max_nodes int, as_of bigint)
RETURNS TABLE (node_id uuid, generation int, input_id uuid, output_id uuid)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    frontier uuid[] := ARRAY[root];
    visited uuid[] := ARRAY[root];
    inputs uuid[];
    outputs uuid[];
    found uuid[];
    room int;
    current int := 0;
BEGIN
    RETURN QUERY SELECT root, 0, NULL::uuid, NULL::uuid;
    WHILE current < max_depth AND cardinality(frontier) > 0 LOOP
        current := current + 1;
        IF upstream THEN
            SELECT array_agg(e.input_id), array_agg(e.output_id) INTO inputs, outputs
            FROM edges e WHERE e.output_id = ANY(frontier) AND e.seq <= as_of;
            found := ARRAY(SELECT id FROM (SELECT unnest(inputs) AS id EXCEPT SELECT unnest(visited)) AS fresh
                           ORDER BY id);
        ELSE
            SELECT array_agg(e.input_id), array_agg(e.output_id) INTO inputs, outputs
            FROM edges e WHERE e.input_id = ANY(frontier) AND e.seq <= as_of;
            found := ARRAY(SELECT id FROM (SELECT unnest(outputs) AS id EXCEPT SELECT unnest(visited)) AS fresh
                           ORDER BY id);
        END IF;
        RETURN QUERY SELECT NULL::uuid, current, pair.input_id, pair.output_id
                     FROM unnest(inputs, outputs) AS pair(input_id, output_id);
        room := max_nodes - cardinality(visited);
        IF cardinality(found) > room THEN
            RETURN QUERY SELECT unnest(found[1:room]), current, NULL::uuid, NULL::uuid;
            RETURN QUERY SELECT NULL::uuid, current, NULL::uuid, NULL::uuid;
            RETURN;
        END IF;
        RETURN QUERY SELECT unnest(found), current, NULL::uuid, NULL::uuid;
        visited := visited || found;
        frontier := found;
    END LOOP;
END
$$;
