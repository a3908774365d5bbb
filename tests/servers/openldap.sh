#!/usr/bin/env bash
# Private, throwaway OpenLDAP 2.5 slapd (Debian bookworm `slapd`) for the integration tests.
# Never touches the packaged slapd service: own cn=config dir, own database, loopback only.
#
#   ./openldap.sh [start]  -> wipe this instance, build config + data from scratch, start slapd
#   ./openldap.sh stop     -> stop the slapd started by this script (by PID); keeps config + data
#   ./openldap.sh restart  -> (stop and) start slapd again from the existing config + data on the
#                             same ports, without wiping (failover tests take a server away and back)
#
# Env: DIRLAB         parent dir of all instances (default ${TMPDIR:-/tmp}/gateway-dirlab)
#      INSTANCE       instance name (default "openldap"); each instance lives in $DIRLAB/$INSTANCE
#                     with its own ports, so several can run at once (e.g. openldap + openldap2)
#      LDAP_PORT / LDAPS_PORT   (default: free ports picked by the kernel)
#      MEMBEROF_MODE  overlay (default: memberOf stored by the memberof overlay, direct groups only)
#                     dynlist (memberOf computed at search time, *nested* groups included)
#      SLAPD_DEBUG    (default none: errors only; e.g. "stats" logs every operation) -> slapd.log
# Output: $DIRLAB/$INSTANCE/openldap.env (KEY=value lines) exists exactly while slapd runs.
# Needs: slapd ldap-utils openssl (installed with apt-get when missing, as root),
#        python3 (free ports), flock (util-linux).
#
# Data (base dc=example,dc=com; every password is "<uid>pw"):
#   alice  sipExtension 1001, sipOtherExtension 2001, in sip-users and admins
#   bob    1002, in sip-ops (nested in sip-users)     frank  1006, in sip-ops
#   carol  1003, locked by an administrator           dave   1004, must change password
#   erin   1005, password expired                     service account cn=gateway,ou=services
#   The base entry's description says "served by <INSTANCE>" (which server of a pair answered).
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"      # slapd / slappasswd live in sbin, absent from users' PATH

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCHEMA_LDIF=$HERE/../../schema/ldap/sipaccount.ldif     # the schema the project ships to admins
DIRLAB=${DIRLAB:-${TMPDIR:-/tmp}/gateway-dirlab}
INSTANCE=${INSTANCE:-openldap}
[[ $INSTANCE =~ ^[A-Za-z0-9_-]+$ ]] || { echo "INSTANCE must be [A-Za-z0-9_-]+, got '$INSTANCE'" >&2; exit 2; }
DIR=$DIRLAB/$INSTANCE
PIDFILE=$DIR/run/slapd.pid
ENV_FILE=$DIR/openldap.env        # present <=> a slapd started by this script is running
SETUP_FILE=$DIR/instance.conf     # ports and mode; survives `stop` so `restart` can reuse them
CA_DIR=$DIRLAB/ca                 # one test CA for all instances: failover pairs share a CA file,
                                  # like two domain controllers of one organisation
BASE="dc=example,dc=com"
ADMIN_DN="cn=admin,$BASE"; ADMIN_PW=adminpw
SVC_DN="cn=gateway,ou=services,$BASE"; SVC_PW=gatewaypw
MEMBEROF_MODE=${MEMBEROF_MODE:-overlay}
CMD=${1:-start}

now() { echo "$EPOCHREALTIME"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# Running = exists and is not a zombie: an orphaned slapd that has exited stays a zombie until
# PID 1 reaps it (~1.5 s in some containers), but it has already closed its ports by then.
alive() {
  local stat; stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  [[ ${stat##*) } != Z* ]]      # field 3, after "pid (comm) "
}

stop_slapd() {
  if [[ -f $PIDFILE ]]; then
    local pid; pid=$(cat "$PIDFILE")
    if alive "$pid"; then
      kill -TERM "$pid"
      for _ in $(seq 50); do alive "$pid" || break; sleep 0.05; done
      if alive "$pid"; then kill -KILL "$pid"; fi
      echo "stopped slapd $INSTANCE pid $pid"
    fi
    rm -f "$PIDFILE"
  fi
  rm -f "$ENV_FILE"
}

# Start slapd in the foreground (-d) as our own background child, so its PID is known even before
# it writes olcPidFile; wait until it answers on the plain port (all listeners open together).
start_slapd() {
  local t0 ready=; t0=$(now)
  nohup slapd -F "$DIR/slapd.d" -h "ldap://127.0.0.1:$LDAP_PORT/ ldaps://127.0.0.1:$LDAPS_PORT/ $LDAPI_URL" \
        -d "${SLAPD_DEBUG:-none}" >> "$DIR/slapd.log" 2>&1 < /dev/null &
  SLAPD_PID=$!
  echo "$SLAPD_PID" > "$PIDFILE"     # slapd writes the same PID there itself, a moment later
  for _ in $(seq 200); do
    if ldapsearch -x -H "ldap://127.0.0.1:$LDAP_PORT" -b "" -s base namingContexts >/dev/null 2>&1; then
      ready=1; break
    fi
    alive "$SLAPD_PID" || break
    sleep 0.05
  done
  if [[ -z $ready ]]; then
    echo "slapd $INSTANCE did not come up (ports $LDAP_PORT/$LDAPS_PORT); last log lines:" >&2
    tail -20 "$DIR/slapd.log" >&2
    stop_slapd >&2
    exit 1
  fi
  SLAPD_READY_SECS=$(secs "$t0" "$(now)")
}

write_env() {
  cat > "$ENV_FILE" <<ENV
INSTANCE=$INSTANCE
DIR=$DIR
LDAP_HOST=127.0.0.1
LDAP_PORT=$LDAP_PORT
LDAPS_PORT=$LDAPS_PORT
LDAP_URL=ldap://127.0.0.1:$LDAP_PORT
LDAPS_URL=ldaps://127.0.0.1:$LDAPS_PORT
LDAPI_URL=$LDAPI_URL
LDAP_BASE=$BASE
LDAP_ADMIN_DN=$ADMIN_DN
LDAP_ADMIN_PW=$ADMIN_PW
LDAP_SVC_DN=$SVC_DN
LDAP_SVC_PW=$SVC_PW
LDAP_CA_CERT=$CA_DIR/ca.crt
LDAPTLS_CACERT=$CA_DIR/ca.crt
SLAPD_PID=$(cat "$PIDFILE")
MEMBEROF_MODE=$MEMBEROF_MODE
ENV
}

case $CMD in
  stop) stop_slapd; exit 0 ;;
  restart)
    [[ -f $SETUP_FILE && -d $DIR/slapd.d ]] || { echo "no instance $INSTANCE in $DIR; run '$0 start' first" >&2; exit 1; }
    # shellcheck source=/dev/null
    source "$SETUP_FILE"
    stop_slapd
    start_slapd
    write_env
    echo "slapd $INSTANCE pid $SLAPD_PID restarted on ldap://127.0.0.1:$LDAP_PORT ldaps://127.0.0.1:$LDAPS_PORT in ${SLAPD_READY_SECS}s"
    exit 0 ;;
  start) ;;
  *) echo "usage: $0 [start|stop|restart]" >&2; exit 2 ;;
esac

# ---------- packages ----------
# shellcheck source-path=SCRIPTDIR source=packages.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/packages.sh"
for cmd in slapd slapadd slappasswd ldapsearch ldapadd ldapmodify openssl; do
  command -v "$cmd" >/dev/null || { ensure_pkgs slapd ldap-utils openssl; break; }
done
[[ -f $SCHEMA_LDIF ]] || { echo "schema not found: $SCHEMA_LDIF" >&2; exit 1; }

# ---------- clean state ----------
T_BEGIN=$(now)
stop_slapd
rm -rf "$DIR"
mkdir -p "$DIR"/{slapd.d,data,run,tls,ldif}

# Two distinct free ports in one python3 run (both sockets held open until both are known).
if [[ -z ${LDAP_PORT:-} || -z ${LDAPS_PORT:-} ]]; then
  FREE=$(python3 -c 'import socket
a, b = socket.socket(), socket.socket()
a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])')
  read -r FREE1 FREE2 <<< "$FREE"
  LDAP_PORT=${LDAP_PORT:-$FREE1}
  LDAPS_PORT=${LDAPS_PORT:-$FREE2}
fi
[[ $LDAP_PORT != "$LDAPS_PORT" ]] || { echo "LDAP_PORT and LDAPS_PORT must differ" >&2; exit 2; }
LDAPI_PATH=$DIR/run/ldapi
LDAPI_PATH=${LDAPI_PATH//%/%25}; LDAPI_PATH=${LDAPI_PATH// /%20}
LDAPI_URL="ldapi://${LDAPI_PATH//\//%2F}"       # the socket path, percent-encoded as a URL host
cat > "$SETUP_FILE" <<CONF
LDAP_PORT=$LDAP_PORT
LDAPS_PORT=$LDAPS_PORT
LDAPI_URL='$LDAPI_URL'
MEMBEROF_MODE=$MEMBEROF_MODE
CONF

# ---------- TLS: shared test CA (created once per DIRLAB) + this instance's server cert ----------
mkdir -p "$CA_DIR"
(
  flock 9      # two instances started in parallel must not both create the CA
  if [[ ! -s $CA_DIR/ca.crt || ! -s $CA_DIR/ca.key ]]; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$CA_DIR/ca.key" -out "$CA_DIR/ca.crt" -days 3650 \
      -subj "/CN=gateway dirlab test CA" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    chmod 600 "$CA_DIR/ca.key"
  fi
) 9> "$CA_DIR/.lock"
T=$DIR/tls
openssl req -newkey rsa:2048 -nodes -keyout "$T/server.key" -out "$T/server.csr" -subj "/CN=localhost" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' > "$T/server.ext"
openssl x509 -req -in "$T/server.csr" -CA "$CA_DIR/ca.crt" -CAkey "$CA_DIR/ca.key" -set_serial "0x$(openssl rand -hex 8)" \
  -out "$T/server.crt" -days 825 -extfile "$T/server.ext" 2>/dev/null
chmod 600 "$T/server.key"

# ---------- cn=config ----------
cp "$SCHEMA_LDIF" "$DIR/ldif/sipaccount.ldif"     # copied only so its file:// URL has no odd characters
ADMIN_HASH=$(slappasswd -h '{SSHA}' -s "$ADMIN_PW")
if [[ $MEMBEROF_MODE == dynlist ]]; then
  GROUP_MODULE=dynlist
  EXTRA_SCHEMA="include: file:///etc/ldap/schema/dyngroup.ldif"     # dynlist needs groupOfURLs
elif [[ $MEMBEROF_MODE == overlay ]]; then
  GROUP_MODULE=memberof
  EXTRA_SCHEMA=""
else
  echo "MEMBEROF_MODE must be overlay or dynlist, got '$MEMBEROF_MODE'" >&2; exit 2
fi

cat > "$DIR/ldif/config.ldif" <<LDIF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $PIDFILE
olcArgsFile: $DIR/run/slapd.args
olcLogLevel: none
olcTLSCACertificateFile: $CA_DIR/ca.crt
olcTLSCertificateFile: $T/server.crt
olcTLSCertificateKeyFile: $T/server.key

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: $GROUP_MODULE
olcModuleLoad: ppolicy
olcModuleLoad: refint

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/nis.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif
$EXTRA_SCHEMA
include: file://$DIR/ldif/sipaccount.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcSizeLimit: 500
olcAccess: {0}to dn.exact="" by * read
olcAccess: {1}to dn.base="cn=Subschema" by * read

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by dn.exact=gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth manage by * break

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: $BASE
olcRootDN: $ADMIN_DN
olcRootPW: $ADMIN_HASH
olcDbDirectory: $DIR/data
olcDbMaxSize: 268435456
olcDbIndex: objectClass eq
olcDbIndex: uid,mail,cn eq,sub
olcDbIndex: sipExtension,sipOtherExtension eq
olcDbIndex: member,memberOf eq
olcAccess: {0}to attrs=userPassword by self =xw by anonymous auth by * none
olcAccess: {1}to attrs=sipSecret by self read by dn.exact="$SVC_DN" read by * none
olcAccess: {2}to attrs=entryDN by * read
olcAccess: {3}to * by self read by users read by anonymous auth
LDIF

if [[ $MEMBEROF_MODE == dynlist ]]; then
cat >> "$DIR/ldif/config.ldif" <<LDIF

dn: olcOverlay={0}dynlist,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcDynListConfig
olcOverlay: {0}dynlist
olcDynListAttrSet: {0}groupOfURLs memberURL member+memberOf@groupOfNames*
LDIF
else
cat >> "$DIR/ldif/config.ldif" <<LDIF

dn: olcOverlay={0}memberof,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOfConfig
olcOverlay: {0}memberof
olcMemberOfRefInt: TRUE
olcMemberOfGroupOC: groupOfNames
olcMemberOfMemberAD: member
olcMemberOfMemberOfAD: memberOf
LDIF
fi
cat >> "$DIR/ldif/config.ldif" <<LDIF

dn: olcOverlay={1}refint,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcRefintConfig
olcOverlay: {1}refint
olcRefintAttribute: member

dn: olcOverlay={2}ppolicy,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {2}ppolicy
olcPPolicyDefault: cn=default,ou=policies,$BASE
olcPPolicyUseLockout: TRUE
olcPPolicyHashCleartext: FALSE
LDIF

slapadd -n0 -F "$DIR/slapd.d" -l "$DIR/ldif/config.ldif" -q

# ---------- start ----------
# Any failure from here on must not leave a half-loaded slapd running.
trap 'echo "FAILED; stopping slapd $INSTANCE" >&2; stop_slapd >&2' EXIT
start_slapd

# ---------- data (loaded online, so the memberof / ppolicy overlays act on it) ----------
h() { slappasswd -h '{SSHA}' -s "$1"; }
person() { # uid given surname extension
  cat <<LDIF
dn: uid=$1,ou=people,$BASE
objectClass: inetOrgPerson
objectClass: sipAccount
uid: $1
cn: $2 $3
sn: $3
givenName: $2
displayName: $2 $3
mail: $1@example.com
telephoneNumber: +1 555 01${4: -2}
sipExtension: $4
sipSecret: s3cr3t-$1
userPassword: $(h "${1}pw")
LDIF
}
{
cat <<LDIF
dn: $BASE
objectClass: top
objectClass: dcObject
objectClass: organization
o: Example Inc
dc: example
description: served by $INSTANCE

dn: ou=people,$BASE
objectClass: organizationalUnit
ou: people

dn: ou=groups,$BASE
objectClass: organizationalUnit
ou: groups

dn: ou=services,$BASE
objectClass: organizationalUnit
ou: services

dn: ou=policies,$BASE
objectClass: organizationalUnit
ou: policies

dn: cn=default,ou=policies,$BASE
objectClass: device
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdMaxFailure: 5
pwdLockout: TRUE
pwdLockoutDuration: 0
pwdFailureCountInterval: 0
pwdAllowUserChange: TRUE
pwdMustChange: TRUE
pwdMaxAge: 0

dn: cn=shortlived,ou=policies,$BASE
objectClass: device
objectClass: pwdPolicy
cn: shortlived
pwdAttribute: userPassword
pwdMaxAge: 86400
pwdGraceAuthnLimit: 0

dn: $SVC_DN
objectClass: applicationProcess
objectClass: simpleSecurityObject
cn: gateway
userPassword: $(h "$SVC_PW")

LDIF
person alice Alice Anders 1001
echo "sipOtherExtension: 2001"          # alice's extra (shared) line
echo
person bob Bob Brown 1002; echo
person carol Carol Clark 1003; echo
person dave Dave Davis 1004; echo
person erin Erin Evans 1005
# erin's password expired: policy max age 1 day, password last changed in 2000. ppolicy lets the
# rootdn set pwdChangedTime with the Relax control, so no waiting for a short max age to run out.
echo "pwdPolicySubentry: cn=shortlived,ou=policies,$BASE"
echo "pwdChangedTime: 20000101000000Z"
echo
person frank Frank Fox 1006
cat <<LDIF

dn: cn=sip-ops,ou=groups,$BASE
objectClass: groupOfNames
cn: sip-ops
description: nested inside sip-users
member: uid=bob,ou=people,$BASE
member: uid=frank,ou=people,$BASE

dn: cn=sip-users,ou=groups,$BASE
objectClass: groupOfNames
cn: sip-users
member: uid=alice,ou=people,$BASE
member: cn=sip-ops,ou=groups,$BASE
member: uid=carol,ou=people,$BASE
member: uid=dave,ou=people,$BASE
member: uid=erin,ou=people,$BASE

dn: cn=admins,ou=groups,$BASE
objectClass: groupOfNames
cn: admins
member: uid=alice,ou=people,$BASE
LDIF
} > "$DIR/ldif/data.ldif"
ldapadd -x -e relax -H "ldap://127.0.0.1:$LDAP_PORT" -D "$ADMIN_DN" -w "$ADMIN_PW" \
  -f "$DIR/ldif/data.ldif" > "$DIR/ldapadd.log"

# Account states, set as the rootdn (ppolicy's pwdAccountLockedTime / pwdReset are admin-settable).
ldapmodify -x -H "ldap://127.0.0.1:$LDAP_PORT" -D "$ADMIN_DN" -w "$ADMIN_PW" >> "$DIR/ldapadd.log" <<LDIF
# carol: locked by an administrator (000001010000Z = until an administrator removes it)
dn: uid=carol,ou=people,$BASE
changetype: modify
add: pwdAccountLockedTime
pwdAccountLockedTime: 000001010000Z

# dave: must change the password at the next logon
dn: uid=dave,ou=people,$BASE
changetype: modify
replace: pwdReset
pwdReset: TRUE
LDIF

trap - EXIT
write_env
echo "slapd $INSTANCE pid $SLAPD_PID  ldap://127.0.0.1:$LDAP_PORT  ldaps://127.0.0.1:$LDAPS_PORT  ($MEMBEROF_MODE)"
echo "slapd answered ${SLAPD_READY_SECS}s after launch; whole setup $(secs "$T_BEGIN" "$(now)")s; env: $ENV_FILE"
