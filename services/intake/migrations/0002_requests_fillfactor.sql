-- A request's row is rewritten at every status change (approval, then
-- provisioning), several times in its life. At fillfactor 80 most of those
-- updates found no room on the row's page and had to insert into all three
-- indexes; at 50 they stay HOT (measured: 40,000 approvals of 60,000 rows
-- went from 11,000 HOT updates to all 40,000, and 35% less time, for 18%
-- more time inserting). Applies to pages written from now on, and to all
-- of them after a rebuild.
ALTER TABLE requests SET (fillfactor = 50);
