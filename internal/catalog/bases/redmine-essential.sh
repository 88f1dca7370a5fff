# Essential hook of the debian redmine base: runs on the host with /bin/sh -eu and the
# new root as $1, after the essential packages and before the rest are installed.
root=$1

# dbconfig-common must be told not to configure a database, before redmine is configured,
# otherwise its config script can spin forever in a non-interactive root.
chroot "$root" debconf-set-selections <<-'EOF'
	redmine redmine/instances/default/dbconfig-install boolean false
	redmine redmine/instances/default/dbconfig-upgrade boolean false
	redmine redmine/instances/default/dbconfig-remove boolean false
	redmine redmine/current-instances string default
EOF
