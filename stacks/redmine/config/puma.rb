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

# Incoming mail (mail.imap in the site's settings): polled from the master once
# Puma has booted, with Redmine loaded there (preload, or single mode). Puma 7
# renamed on_booted to after_booted; Debian's trixie has Puma 6, forky 8.
unless ENV["IMAP_HOST"].to_s.empty?
  booted = respond_to?(:after_booted) ? :after_booted : :on_booted
  send(booted) do
    require File.expand_path("stackctl_mail_in", __dir__)
    StackctlMailIn.start
  end
end
