print("poolconsole: not yet")
