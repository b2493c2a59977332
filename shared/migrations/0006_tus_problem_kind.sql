-- A finished tus upload keeps the refusal that rejected it as the kind of its
-- domain error (`shared.errors.record`: kind, title, detail, extra fields), no
-- longer as an HTTP status: the status belongs to the edge
-- (`shared/http/problems.py`). Rows refused before this migration carry the
-- status their answer had; it is translated once to the kind that answers it.
UPDATE tus_uploads
   SET problem = (problem - 'status') || jsonb_build_object('kind',
       CASE problem->>'status'
           WHEN '400' THEN 'Invalid'
           WHEN '404' THEN 'NotFound'
           WHEN '409' THEN 'Conflict'
           WHEN '410' THEN 'Gone'
           WHEN '413' THEN 'TooLarge'
           WHEN '415' THEN 'Unsupported'
           WHEN '423' THEN 'Busy'
           WHEN '429' THEN 'OverQuota'
           WHEN '460' THEN 'ChecksumMismatch'
           ELSE 'Refused'
       END)
 WHERE problem ? 'status' AND NOT problem ? 'kind';
