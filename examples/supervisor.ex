# A supervisor that restarts a crashing worker: the "means to detect a
# process crash and do something about it, such as restarting the crashed
# process" of seed 004. The seed has no code for it; this is ours, a
# hand-rolled supervisor over links (OTP's Supervisor does this for real).
# supervisor.cpp is its port, line for line.
defmodule Calculator do
  # callbacks for ServerProcess (see server_process.ex), with links
  def init, do: 0
  def handle_cast({:add, n}, state), do: state + n
  def handle_call(:value, state), do: {state, state}
  def handle_call({:divide, n}, state), do: {div(100, n), state}  # crashes on 0
end

defmodule RestartingSupervisor do
  # at most 3 restarts in 5 seconds, then give up
  def start(callback_module, name) do
    spawn(fn ->
      Process.flag(:trap_exit, true)
      start_child(callback_module, name)
      loop(callback_module, name, [])
    end)
  end

  defp start_child(callback_module, name) do
    pid = ServerProcess.start_link(callback_module)
    Process.register(pid, name)
  end

  defp loop(callback_module, name, restarts) do
    receive do
      {:EXIT, _pid, reason} ->
        now = System.monotonic_time(:millisecond)
        restarts = [now | Enum.filter(restarts, &(&1 > now - 5000))]

        if length(restarts) > 3 do
          IO.puts("supervisor: worker exited (#{elem(reason, 0)}); too many restarts, giving up")
          # the name dies with the worker: later calls get {:error, :noproc}
        else
          IO.puts("supervisor: worker exited (#{elem(reason, 0)}); restart #{length(restarts)}")
          start_child(callback_module, name)
          loop(callback_module, name, restarts)
        end
    end
  end
end

sup = RestartingSupervisor.start(Calculator, :calc)
ServerProcess.cast(:calc, {:add, 2})
IO.inspect(ServerProcess.call(:calc, :value))           # 2
IO.inspect(ServerProcess.call(:calc, {:divide, 4}))     # 25
IO.inspect(ServerProcess.call(:calc, {:divide, 0}))     # the worker crashes: {:error, :exited}
IO.inspect(ServerProcess.call(:calc, :value))           # 0: a fresh worker, fresh state
for _ <- 1..3, do: ServerProcess.call(:calc, {:divide, 0})  # three more crashes
ref = Process.monitor(sup)
receive do {:DOWN, ^ref, _, _, _} -> :ok end            # the supervisor gave up
IO.inspect(ServerProcess.call(:calc, :value))           # {:error, :noproc}
