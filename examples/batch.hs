-- The original of batch.cpp: the Haskell program of seed 002, "Concurrent
-- Batch Processing" (it credits a paste at lpaste.net/79863), as the seed
-- shows it, for comparison. batch.cpp ports its logging service, workers and
-- runPreviews; MySQL becomes SQLite, on a thread of its own.
--
-- Two things the port changes on purpose:
--  * workers are bounded (at most --workers at once), where this spawns one
--    thread per row;
--  * incTasks runs in the forked thread here, so `tasks` can fall to 0 (and
--    donemv be filled) while forEach is still spawning, or before a worker
--    has started; the port counts a task before spawning it and holds one
--    count for the query itself until every row is spawned.

{-# LANGUAGE BangPatterns, OverloadedStrings, ScopedTypeVariables #-}

import Control.Concurrent
import Control.Concurrent.STM
import Control.Exception (finally)
import Control.Monad
import Data.List (intercalate)
import Database.MySQL.Simple
import Database.MySQL.Simple.QueryResults
import Database.MySQL.Simple.Result
import Options.Applicative
import System.Random (randomRIO)


main :: IO ()
main = execParser opts >>= run

--------------------------------------------------------------------------------
-- args parsing
--------------------------------------------------------------------------------

data Command
  = Previews Integer

previewOpts :: Parser Command
previewOpts = Previews
  <$> argument auto
      (  metavar "PUBLISHER_ID"
      <> help "Process books for PUBLISHER_ID"
      )

commands :: Parser Command
commands = subparser
  ( command "previews"
    (info previewOpts
          (progDesc "Create previews"))
  )

run :: Command -> IO ()
run (Previews pId) = runPreviews pId

opts :: ParserInfo Command
opts = info (commands <**> helper) idm

--------------------------------------------------------------------------------
-- logging service (from Parallel and Concurrent Programming in Haskell)
--------------------------------------------------------------------------------

data Logger = Logger (MVar LogCommand)
data LogCommand = Message String | Stop (MVar ())

initLogger :: IO Logger
initLogger = do
  m <- newEmptyMVar
  let l = Logger m
  forkIO (logger l)
  return l

logger :: Logger -> IO ()
logger (Logger m) = loop
  where
    loop = do
      cmd <- takeMVar m
      case cmd of
        Message msg -> do
          putStrLn msg
          loop
        Stop s -> do
          putStrLn "logger: stop"
          putMVar s ()

logMessage :: Logger -> String -> IO ()
logMessage (Logger m) s = putMVar m (Message s)

logStop :: Logger -> IO ()
logStop (Logger m) = do
  s <- newEmptyMVar
  putMVar m (Stop s)
  takeMVar s

--------------------------------------------------------------------------------
-- data
--------------------------------------------------------------------------------

dbConnInfo :: ConnectInfo
dbConnInfo = defaultConnectInfo
  { connectDatabase = "my_database"
  }

newtype BookId = BookId { unBookId :: Integer }

instance QueryResults BookId where
  convertResults [fa] [va] = BookId a
    where
      !a = convert fa va
  convertResults fs vs = convertError fs vs 1

--------------------------------------------------------------------------------
-- workers
--------------------------------------------------------------------------------

seconds :: Int -> Int
seconds = (*(10^6))

workerThread :: Logger -> BookId -> IO ()
workerThread log bookId = do
  x <- randomRIO (5, 10)
  -- simulate a long running process
  threadDelay $ seconds x
  logMessage log $ "finished book id: " ++ show (unBookId bookId)

spawnWorker :: Logger -> TVar Int -> TMVar () -> BookId -> IO ()
spawnWorker log taskstv donemv bookId = 
  void $ forkIO ((incTasks >> workerThread log bookId) `finally` decTasks)
  where
    incTasks = atomically $ modifyTVar' taskstv (+1)
    decTasks = atomically $ do
      tasks <- readTVar taskstv
      let !newTasks = tasks - 1
      writeTVar taskstv newTasks
      when (newTasks < 1) . void $ tryPutTMVar donemv ()

runPreviews :: Integer -> IO ()
runPreviews pId = do
  taskstv <- newTVarIO (0 :: Int)
  donemv <- newEmptyTMVarIO :: IO (TMVar ())
  log <- initLogger
  conn <- connect dbConnInfo
  let worker = spawnWorker log taskstv donemv
  forEach conn "select id from books where publisher_id = ?" (Only pId) worker
  close conn
  loop log taskstv donemv
  logStop log
  where
    yepNope = maybe "Nope" (const "Yep")
    loop log taskstv donemv = do
      done <- atomically $ tryTakeTMVar donemv
      tasks <- atomically $ readTVar taskstv
      logMessage log $ intercalate "\t"
        [ "done = " ++ yepNope done
        , "tasks = " ++ show tasks
        ]
      if (isJust done)
        then return ()
        else do
          threadDelay $ seconds 1
          loop log taskstv donemv
