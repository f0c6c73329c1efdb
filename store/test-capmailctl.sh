#!/bin/sh
# test-capmailctl.sh: capmailctl's commands, messages and exit codes
# against the PostgreSQL named by CAPMAIL_TEST_DB (a keyword=value libpq
# string, as tests/run-tests exports it). Skips (77) without it or
# without psql. Works in its own database, capmail_test_ctl, made afresh
# and dropped again when every check passed. Run from the top build
# folder (make check does).
set -u

CTL=./store/capmailctl
DBNAME=capmail_test_ctl

if [ -z "${CAPMAIL_TEST_DB:-}" ]; then
	echo "test-capmailctl: CAPMAIL_TEST_DB not set; skipped"
	exit 77
fi
case $CAPMAIL_TEST_DB in
*://*) echo "test-capmailctl: CAPMAIL_TEST_DB is a URI; skipped"; exit 77 ;;
esac
if ! command -v psql >/dev/null 2>&1; then
	echo "test-capmailctl: no psql; skipped"
	exit 77
fi
if [ ! -x "$CTL" ]; then
	echo "test-capmailctl: $CTL not built" >&2
	exit 99
fi

PGOPTIONS='-c client_min_messages=warning'
export PGOPTIONS

# The schema version is the number of the newest migration file.
V=$(ls "${srcdir:-.}"/store/sql/[0-9][0-9][0-9]-*.sql | sed 's|.*/||; s|-.*||' |
	sort -n | tail -n 1 | sed 's/^0*//')
NMIG=$(ls "${srcdir:-.}"/store/sql/[0-9][0-9][0-9]-*.sql | wc -l | tr -d ' ')
psql -X -q "$CAPMAIL_TEST_DB" -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" \
	-c "CREATE DATABASE $DBNAME" >/dev/null || exit 99
DB="$CAPMAIL_TEST_DB dbname=$DBNAME"

tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

# run WANT_STATUS [stdin-file] -- capmailctl arguments...
# leaves stdout in $tmp/out and stderr in $tmp/err
run() {
	want=$1; shift
	input=/dev/null
	if [ "$1" != "--" ]; then input=$1; shift; fi
	shift
	"$CTL" "$@" <"$input" >"$tmp/out" 2>"$tmp/err"
	got=$?
	if [ "$got" = "$want" ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "FAIL: capmailctl $*: exit $got, want $want" >&2
		sed 's/^/  stderr: /' "$tmp/err" >&2
	fi
}
# expect FILE TEXT: the file is exactly TEXT plus a newline ("": empty)
expect() {
	if [ -n "$2" ]; then printf '%s\n' "$2"; fi >"$tmp/want"
	if cmp -s "$tmp/want" "$tmp/$1"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "FAIL: $1 is not '$2':" >&2
		sed 's/^/  | /' "$tmp/$1" >&2
	fi
}
expect_grep() {
	if grep -q -- "$2" "$tmp/$1"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "FAIL: $1 does not contain '$2':" >&2
		sed 's/^/  | /' "$tmp/$1" >&2
	fi
}
pw() { printf '%s\n' "$1" >"$tmp/pw"; echo "$tmp/pw"; }

# usage errors: 2, before any connection is tried
run 2 --
run 2 -- -d "$DB" db
run 2 -- -d "$DB" db bogus
run 2 -- -d "$DB" user add a@example.test secret
run 2 -- -d "$DB" frobnicate list
run 2 -- -x db version
run 2 -- -d "host=/nonexistent port=1" db bogus

run 0 -- -d "$DB" db version
expect out "0"
run 0 -- -d "$DB" db init
expect out "schema version $V ($NMIG migrations applied)"
run 1 -- -d "$DB" db init
expect err "capmailctl: database already initialised (schema version $V); use 'db migrate'"
run 0 -- -d "$DB" db migrate
expect out "schema version $V (0 migrations applied)"
run 0 -- -d "$DB" db version
expect out "$V"

run 0 -- -d "$DB" domain add Example.TEST
run 1 -- -d "$DB" domain add example.test
expect err "capmailctl: domain example.test: already exists"
run 1 -- -d "$DB" domain add "bad domain"
expect err "capmailctl: domain bad domain: not a valid domain name"
run 0 -- -d "$DB" domain add other.test
run 0 -- -d "$DB" domain list
printf 'example.test\nother.test\n' >"$tmp/want2"
if cmp -s "$tmp/want2" "$tmp/out"; then passed=$((passed + 1)); else
	failed=$((failed + 1)); echo "FAIL: domain list" >&2; fi

run 0 "$(pw secret-a)" -- -d "$DB" user add Alice@Example.Test
expect err ""
run 1 "$(pw other)" -- -d "$DB" user add alice@example.test
expect err "capmailctl: user alice@example.test: already exists"
run 1 "$(pw x)" -- -d "$DB" user add bob@nowhere.test
expect err "capmailctl: domain nowhere.test: does not exist (add it with 'domain add nowhere.test')"
run 1 "$(pw x)" -- -d "$DB" user add "not an address"
expect err "capmailctl: not an address: not a valid address"
run 1 "$(pw x)" -- -d "$DB" user add a@@example.test
run 1 -- -d "$DB" user add bob@example.test
expect err "capmailctl: no password on standard input"
run 1 "$(pw '')" -- -d "$DB" user add bob@example.test
expect err "capmailctl: empty password"
run 0 "$(pw secret-b)" -- -d "$DB" user add bob@other.test
run 0 -- -d "$DB" user list
printf 'alice@example.test\nbob@other.test\n' >"$tmp/want2"
if cmp -s "$tmp/want2" "$tmp/out"; then passed=$((passed + 1)); else
	failed=$((failed + 1)); echo "FAIL: user list" >&2; fi
# the hash is yescrypt, not the password
psql -X -At "$DB" -c "SELECT password_hash LIKE '\$y\$%' AND position('secret-a' in password_hash) = 0 FROM principals WHERE address = 'alice@example.test'" >"$tmp/out"
expect out "t"
# five mailboxes each
psql -X -At "$DB" -c "SELECT count(*) FROM mailboxes" >"$tmp/out"
expect out "10"

psql -X -At "$DB" -c "SELECT password_hash FROM principals WHERE address = 'alice@example.test'" >"$tmp/h1"
run 0 "$(pw new-secret)" -- -d "$DB" user passwd ALICE@example.test
psql -X -At "$DB" -c "SELECT password_hash FROM principals WHERE address = 'alice@example.test'" >"$tmp/h2"
if cmp -s "$tmp/h1" "$tmp/h2"; then failed=$((failed + 1)); echo "FAIL: passwd kept the hash" >&2
else passed=$((passed + 1)); fi
run 1 "$(pw x)" -- -d "$DB" user passwd nobody@example.test
expect err "capmailctl: user nobody@example.test: no such user"

# user import-hash: a Dovecot passwd-file hash on stdin
run 1 "$(pw '{PLAIN}secret')" -- -d "$DB" user import-hash carol@example.test
expect err "capmailctl: user carol@example.test: unsupported scheme (only {SHA512-CRYPT}, {SHA256-CRYPT}, {BLF-CRYPT}, {CRYPT} or a bare crypt(3) hash)"
run 1 "$(pw '{SHA256-CRYPT}$6$abc$def')" -- -d "$DB" user import-hash carol@example.test
expect err "capmailctl: user carol@example.test: hash does not match its scheme prefix"
run 1 -- -d "$DB" user import-hash carol@example.test
expect err "capmailctl: user carol@example.test: no hash on standard input"
run 1 "$(pw '{CRYPT}$6$x')" -- -d "$DB" user import-hash carol@nowhere.test
expect err "capmailctl: user carol@nowhere.test: not a hash this system's crypt(3) can verify"
H6=$(python3 -W ignore -c 'import crypt; print(crypt.crypt("carol-pw", "$6$ctltest$"))' 2>/dev/null)
case $H6 in
'$6$ctltest$'*)
	run 1 "$(pw "{SHA512-CRYPT}$H6")" -- -d "$DB" user import-hash carol@nowhere.test
	expect err "capmailctl: domain nowhere.test: does not exist (add it with 'domain add nowhere.test')"
	run 0 "$(pw "{SHA512-CRYPT}$H6")" -- -d "$DB" user import-hash carol@example.test
	expect err ""
	psql -X -At "$DB" -c "SELECT password_hash FROM principals WHERE address = 'carol@example.test'" >"$tmp/out"
	expect out "$H6"
	psql -X -At "$DB" -c "SELECT count(*) FROM mailboxes m JOIN principals p ON p.id = m.owner WHERE p.address = 'carol@example.test'" >"$tmp/out"
	expect out "5"
	;;
*) echo "test-capmailctl: no crypt module in python3; import of a \$6\$ hash not checked" ;;
esac

run 0 -- -d "$DB" grant list alice@example.test
expect out ""
run 1 -- -d "$DB" grant list nobody@example.test
expect err "capmailctl: user nobody@example.test: no such user"

# the outbound queue: add, list, flush, delete
printf 'Subject: out\r\n\r\nhi\r\n' >"$tmp/msg"
run 0 "$tmp/msg" -- -d "$DB" queue add alice@example.test x@remote.test y@remote.test
expect_grep out '^[0-9][0-9]*$'
Q1=$(cat "$tmp/out")
run 0 "$tmp/msg" -- -d "$DB" queue add "" z@remote.test
Q2=$(cat "$tmp/out")
run 1 "$tmp/msg" -- -d "$DB" queue add alice@example.test "bad rcpt"
expect err "capmailctl: bad rcpt: not an address"
run 2 -- -d "$DB" queue add alice@example.test
run 0 -- -d "$DB" queue list
printf '\tx@remote.test\tqueued\t0\t\n\ty@remote.test\tqueued\t0\t\n\tz@remote.test\tqueued\t0\t\n' >"$tmp/want3"
if grep "$(printf '^\t')" "$tmp/out" | cmp -s "$tmp/want3" -; then passed=$((passed + 1)); else
	failed=$((failed + 1)); echo "FAIL: queue list recipients" >&2; cat "$tmp/out" >&2; fi
expect_grep out "^$Q1	.*	queued	0	.*	20	alice@example.test	alice@example.test\$"
expect_grep out "^$Q2	.*	queued	0	.*	20	<>	-\$"
run 0 -- -d "$DB" queue flush
run 0 -- -d "$DB" queue flush "$Q2"
run 1 -- -d "$DB" queue flush 999999
expect err "capmailctl: queue item 999999: not queued"
run 1 -- -d "$DB" queue delete x
expect err "capmailctl: x: not a queue item id"
run 0 -- -d "$DB" queue delete "$Q2"
run 1 -- -d "$DB" queue delete "$Q2"
expect err "capmailctl: queue item $Q2: no such item"
psql -X -At "$DB" -c "SELECT count(*) FROM messages" >"$tmp/out"
expect out "1"

# sender policy and rules
run 0 -- -d "$DB" domain policy example.test known-only
psql -X -At "$DB" -c "SELECT sender_policy FROM domains WHERE name = 'example.test'" >"$tmp/out"
expect out "known-only"
run 1 -- -d "$DB" domain policy example.test sometimes
expect err "capmailctl: domain example.test: policy must be open, verify-unknown or known-only"
run 1 -- -d "$DB" domain policy nowhere.test open
expect err "capmailctl: domain nowhere.test: no such domain"
run 2 -- -d "$DB" domain policy example.test
run 0 -- -d "$DB" user policy bob@other.test open
run 0 -- -d "$DB" user policy bob@other.test domain
psql -X -At "$DB" -c "SELECT coalesce(sender_policy, 'NULL') FROM principals WHERE address = 'bob@other.test'" >"$tmp/out"
expect out "NULL"
run 1 -- -d "$DB" user policy nobody@other.test open
expect err "capmailctl: user nobody@other.test: no such user"
# the question on the verification page: question, then answers, on stdin
printf '  What is <b>&"the dog'"'"'s name?  \n Rex \n\n  Big   REX\nrex\n' >"$tmp/q"
run 0 "$tmp/q" -- -d "$DB" user question Bob@Other.test
expect out ""
expect err ""
psql -X -At "$DB" -c "SELECT verify_question, array_to_string(verify_answers, '|') FROM principals WHERE address = 'bob@other.test'" >"$tmp/out"
expect out "What is <b>&\"the dog's name?|big rex|rex"
printf 'Colour?\n' >"$tmp/q"
run 1 "$tmp/q" -- -d "$DB" user question bob@other.test
expect err "capmailctl: user bob@other.test: no answer on standard input (one a line, after the question)"
printf 'Colour?\n \n\t\n' >"$tmp/q"
run 1 "$tmp/q" -- -d "$DB" user question bob@other.test
expect err "capmailctl: user bob@other.test: no answer on standard input (one a line, after the question)"
run 1 -- -d "$DB" user question bob@other.test
expect err "capmailctl: user bob@other.test: no question on standard input"
printf '   \nred\n' >"$tmp/q"
run 1 "$tmp/q" -- -d "$DB" user question bob@other.test
expect err "capmailctl: user bob@other.test: the question must be UTF-8 text without control characters"
printf 'Colour?\nred\nbl\001ue\n' >"$tmp/q"
run 1 "$tmp/q" -- -d "$DB" user question bob@other.test
expect err "capmailctl: user bob@other.test: line 3: an answer must be UTF-8 text without control characters"
printf 'Colour?\n\377\n' >"$tmp/q"
run 1 "$tmp/q" -- -d "$DB" user question bob@other.test
expect err "capmailctl: user bob@other.test: line 2: an answer must be UTF-8 text without control characters"
{ printf '%0501d\n' 0; echo red; } >"$tmp/q"
run 1 "$tmp/q" -- -d "$DB" user question bob@other.test
expect err "capmailctl: user bob@other.test: question longer than 500 bytes"
{ echo 'Colour?'; printf '%0201d\n' 0; } >"$tmp/q"
run 1 "$tmp/q" -- -d "$DB" user question bob@other.test
expect err "capmailctl: user bob@other.test: line 2: answer longer than 200 bytes"
{ echo 'Colour?'; seq 1 21; } >"$tmp/q"
run 1 "$tmp/q" -- -d "$DB" user question bob@other.test
expect err "capmailctl: user bob@other.test: more than 20 answers"
# none of the refused ones changed the question
psql -X -At "$DB" -c "SELECT verify_question FROM principals WHERE address = 'bob@other.test'" >"$tmp/out"
expect out "What is <b>&\"the dog's name?"
printf 'Colour?\nred\n' >"$tmp/q"
run 1 "$tmp/q" -- -d "$DB" user question nobody@other.test
expect err "capmailctl: user nobody@other.test: no such user"
run 1 -- -d "$DB" user question "not an address"
expect err "capmailctl: not an address: not a valid address"
run 2 -- -d "$DB" user question bob@other.test --maybe
run 2 -- -d "$DB" user question bob@other.test --clear extra
run 0 -- -d "$DB" user question bob@other.test --clear
psql -X -At "$DB" -c "SELECT coalesce(verify_question, 'NULL'), coalesce(verify_answers::text, 'NULL') FROM principals WHERE address = 'bob@other.test'" >"$tmp/out"
expect out "NULL|NULL"
run 0 -- -d "$DB" user question bob@other.test --clear
run 1 -- -d "$DB" user question nobody@other.test --clear
expect err "capmailctl: user nobody@other.test: no such user"
run 0 -- -d "$DB" sender block @Spam.test
run 0 -- -d "$DB" sender allow --user bob@other.test Friend@spam.test
run 0 -- -d "$DB" sender list --user bob@other.test
expect_grep out "^bob@other.test	friend@spam.test	allow	20"
run 0 -- -d "$DB" sender list
expect_grep out "^\*	@spam.test	block	"
run 1 -- -d "$DB" sender allow "not an address"
expect err "capmailctl: sender not an address: not an address or @domain"
run 1 -- -d "$DB" sender allow --user nobody@other.test x@y.test
expect err "capmailctl: user nobody@other.test: no such user"
run 0 -- -d "$DB" sender forget --user bob@other.test friend@spam.test
run 1 -- -d "$DB" sender forget --user bob@other.test friend@spam.test
expect err "capmailctl: sender friend@spam.test: no rule for it"
run 2 -- -d "$DB" sender allow
run 2 -- -d "$DB" sender maybe x@y.test
run 0 -- -d "$DB" held list
expect out ""
run 0 -- -d "$DB" held expire 60
expect out "0 expired"
run 1 -- -d "$DB" held expire soon
expect err "capmailctl: held expire: soon: not a number of seconds"
run 0 -- -d "$DB" held release x@y.test
expect out "0 released"
# held link: needs the key and the base URL; prints base/v/TOKEN
run 1 -- -d "$DB" held link bob@other.test x@y.test
expect err "capmailctl: held link: secret_key_file must be set in the configuration"
head -c 48 /dev/urandom >"$tmp/key" && chmod 600 "$tmp/key"
printf 'database = %s\nsecret_key_file = %s\nverify_url_base = https://v.example.test/\n' \
	"$DB" "$tmp/key" >"$tmp/link.conf"
run 0 -- -c "$tmp/link.conf" held link bob@other.test X@Y.test
expect_grep out '^https://v\.example\.test/v/[a-z2-7]\{60\}$'
run 0 -- -c "$tmp/link.conf" held link bob@other.test x@y.test
psql -X -At "$DB" -c "SELECT count(*), count(day_sent), min(sender) FROM challenges" >"$tmp/out"
expect out "2|0|x@y.test"
run 1 -- -c "$tmp/link.conf" held link nobody@other.test x@y.test
expect err "capmailctl: user nobody@other.test: no such user"
run 1 -- -c "$tmp/link.conf" held link bob@other.test @y.test
expect err "capmailctl: held link: @y.test: not a sender address"
chmod 644 "$tmp/key"
run 1 -- -c "$tmp/link.conf" held link bob@other.test x@y.test
expect_grep err "capmailctl: held link: .*key"
run 2 -- -d "$DB" held link bob@other.test
chmod 600 "$tmp/key"
printf 'database = %s\nsecret_key_file = %s\nhostname = mx.other.test\n' \
	"$DB" "$tmp/key" >"$tmp/link2.conf"
run 0 -- -c "$tmp/link2.conf" held link bob@other.test x@y.test
expect_grep out '^https://mx\.other\.test/v/[a-z2-7]\{60\}$'

# the config file's database key; -d wins over it
printf 'database = %s\n' "$DB" >"$tmp/ok.conf"
run 0 -- -c "$tmp/ok.conf" user list
expect_grep out "bob@other.test"
printf 'database = host=/nonexistent port=1\n' >"$tmp/dead.conf"
run 0 -- -c "$tmp/dead.conf" -d "$DB" domain list
run 1 -- -c "$tmp/dead.conf" domain list
expect_grep err "^capmailctl: database: "
printf 'no_such_key = 1\n' >"$tmp/bad.conf"
run 1 -- -c "$tmp/bad.conf" domain list
expect_grep err "bad.conf:1"
run 1 -- -c "$tmp/missing.conf" domain list

# nothing listens: a clear error, exit 1
run 1 -- -d "host=127.0.0.1 port=1 connect_timeout=3 dbname=x" user list
expect_grep err "^capmailctl: database: "

if [ "$failed" = 0 ]; then
	psql -X -q "$CAPMAIL_TEST_DB" -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" >/dev/null
fi
echo "test-capmailctl: $passed passed, $failed failed"
[ "$failed" = 0 ]
