# The generic server of seed 004 ("Building a Generic server process"),
# completed: the seed shows ServerProcess.start/1; the rest (start_link/1,
# loop/2, call/2 and cast/2, the callback modules) is ours, written the way
# the seed describes it. server_process.hpp is the generic part's port and
# server_process.cpp the rest, line for line.
defmodule ServerProcess do
  def start(callback_module) do
    spawn(fn ->
      initial_state = callback_module.init()
      loop(callback_module, initial_state)
    end)
  end

  # start, linked: a crash's exit signal goes to the caller (a supervisor)
  def start_link(callback_module) do
    spawn_link(fn ->
      initial_state = callback_module.init()
      loop(callback_module, initial_state)
    end)
  end

  defp loop(callback_module, current_state) do
    receive do
      {:call, request, caller} ->
        {response, new_state} = callback_module.handle_call(request, current_state)
        send(caller, {:response, response})
        loop(callback_module, new_state)

      {:cast, request} ->
        new_state = callback_module.handle_cast(request, current_state)
        loop(callback_module, new_state)
    end
  end

  # server: a pid or a registered name
  def call(server, request) do
    if pid = GenServer.whereis(server) do
      ref = Process.monitor(pid)  # so a crash answers, too
      send(pid, {:call, request, self()})

      receive do
        {:response, response} ->
          Process.demonitor(ref, [:flush])
          response

        {:DOWN, ^ref, :process, _pid, _reason} ->
          {:error, :exited}
      after
        5000 ->
          Process.demonitor(ref, [:flush])
          {:error, :timeout}
      end
    else
      {:error, :noproc}
    end
  end

  def cast(server, request) do
    if pid = GenServer.whereis(server), do: send(pid, {:cast, request})
    :ok
  end
end

defmodule KeyValueStore do
  # interface functions, run by clients
  def start, do: ServerProcess.start(KeyValueStore)
  def put(pid, key, value), do: ServerProcess.cast(pid, {:put, key, value})
  def get(pid, key), do: ServerProcess.call(pid, {:get, key})

  # callbacks, run by the server process
  def init, do: %{}
  def handle_cast({:put, key, value}, state), do: Map.put(state, key, value)
  def handle_call({:get, key}, state), do: {Map.get(state, key), state}
end

defmodule Counter do
  # a second callback module on the same generic code
  def init, do: 0
  def handle_cast({:add, n}, state), do: state + n
  def handle_call(:value, state), do: {state, state}
end

pid = KeyValueStore.start()
KeyValueStore.put(pid, :rose, "red")
IO.inspect(KeyValueStore.get(pid, :rose))   # "red"
IO.inspect(KeyValueStore.get(pid, :tulip))  # nil

counter = ServerProcess.start(Counter)
Enum.each(1..10, &ServerProcess.cast(counter, {:add, &1}))
IO.inspect(ServerProcess.call(counter, :value))  # 55
