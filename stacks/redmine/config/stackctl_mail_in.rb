# Incoming mail as stackctl runs it: Redmine's own Redmine::IMAP.check, which its
# redmine:email:receive_imap task runs, on the interval the site's settings give
# (mail.imap in stackctl.yaml, passed in IMAP_* variables), from a thread of Puma's
# master process (config/puma.rb starts it once Puma has booted). Not the rake
# task: its password would be a process argument, and each poll would load
# Redmine anew.
#
# Every container of a stack runs this, but only the one whose host name stackctl's
# table MAIL_IN_TABLE holds polls: stackctl writes it for the container that serves
# and empties it, then waits for the advisory lock a poll holds (MAIL_IN_LOCK_KEY),
# before it copies the data or stops serving it. So a mail goes into the data that
# stays, once; a container started privately (a restore being checked) never polls.
module StackctlMailIn
  module_function

  def start
    interval = Integer(ENV.fetch("IMAP_INTERVAL"))
    Thread.new do
      Thread.current.name = "stackctl-mail-in"
      # The first poll soon after start, not a whole interval later.
      sleep 10
      loop do
        begin
          poll
        rescue Exception => e # one bad poll must not end the polling, nor Puma
          log "polling #{ENV["IMAP_HOST"]} failed: #{e.class}: #{e.message}"
        end
        sleep interval
      end
    end
  end

  def poll
    ActiveRecord::Base.connection_pool.with_connection do |c|
      key = Integer(ENV.fetch("MAIL_IN_LOCK_KEY"))
      next unless c.select_value("SELECT pg_try_advisory_lock(#{key})")
      begin
        Redmine::IMAP.check(imap_options, mail_options) if poller(c) == Socket.gethostname
      ensure
        c.select_value("SELECT pg_advisory_unlock(#{key})")
      end
    end
  end

  # The host name of the container that may poll; "" before stackctl made its table.
  def poller(c)
    table = c.quote_table_name(ENV.fetch("MAIL_IN_TABLE"))
    return "" unless c.select_value("SELECT to_regclass(#{c.quote(table)})")
    c.select_value("SELECT host FROM #{table}").to_s
  end

  def imap_options
    o = {
      host: ENV.fetch("IMAP_HOST"), port: ENV.fetch("IMAP_PORT"),
      username: ENV.fetch("IMAP_USER"), password: File.read(ENV.fetch("IMAP_PASSWORD_FILE")).chomp,
      folder: ENV.fetch("IMAP_FOLDER"),
    }
    # Redmine::IMAP tests these for presence, not truth.
    case ENV["IMAP_SECURITY"]
    when "tls" then o[:ssl] = true
    when "starttls" then o[:starttls] = true
    end
    o
  end

  def mail_options
    o = {unknown_user: ENV.fetch("IMAP_UNKNOWN_USER"), no_permission_check: "0"}
    project = ENV["IMAP_PROJECT"].to_s
    o[:issue] = {project: project} unless project.empty?
    o
  end

  def log(line)
    $stdout.puts "stackctl mail in: #{line}"
    $stdout.flush
  end
end
