# Puma as stackctl runs Redmine: 'rails server' reads config/puma.rb, where the
# Dockerfile puts this file. Sized by the environment the compose file sets from
# the site's settings (redmine.puma in stackctl.yaml); unset, it is single mode
# with Puma's own 0 to 5 threads. Port and bind stay rails server's (-b 0.0.0.0, 3000).
workers_count = Integer(ENV.fetch("WEB_CONCURRENCY", "0"))
workers workers_count
threads Integer(ENV.fetch("RAILS_MIN_THREADS", "0")), Integer(ENV.fetch("RAILS_MAX_THREADS", "5"))
# Workers are forked from a master that loaded Redmine once: less memory, and a
# worker that dies is replaced without loading Redmine again.
preload_app! if workers_count > 0
