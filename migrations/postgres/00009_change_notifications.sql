-- +goose Up
-- Every replica caches clients (with their secrets), the role catalog and
-- the signing keys. A change made anywhere (an admin action on another
-- replica, the CLI, a hand-written UPDATE) is announced on the
-- portero_changes channel in the transaction that makes it, and each
-- replica drops or reloads what it cached (internal/store Listen). The
-- payload is "clients:<id>" for a client and the table name otherwise.
-- SQLite has no such channel; its ../sqlite/00009 is empty.
-- +goose StatementBegin
CREATE FUNCTION portero_notify_change() RETURNS trigger AS $$
BEGIN
    IF TG_TABLE_NAME = 'clients' THEN
        IF TG_OP = 'DELETE' THEN
            PERFORM pg_notify('portero_changes', 'clients:' || OLD.id);
        ELSE
            PERFORM pg_notify('portero_changes', 'clients:' || NEW.id);
        END IF;
    ELSE
        PERFORM pg_notify('portero_changes', TG_TABLE_NAME);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
-- +goose StatementEnd
CREATE TRIGGER clients_notify_change AFTER INSERT OR UPDATE OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION portero_notify_change();
CREATE TRIGGER roles_notify_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON roles
    FOR EACH STATEMENT EXECUTE FUNCTION portero_notify_change();
CREATE TRIGGER role_includes_notify_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON role_includes
    FOR EACH STATEMENT EXECUTE FUNCTION portero_notify_change();
CREATE TRIGGER role_permissions_notify_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON role_permissions
    FOR EACH STATEMENT EXECUTE FUNCTION portero_notify_change();
CREATE TRIGGER signing_keys_notify_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION portero_notify_change();

