"""Short general-knowledge questions with their answers, written for this project.

Each entry is (topic, question, answer). They were written by hand for `data/general/questions.jsonl`,
the default calibration of CorDA's knowledge-preserved mode when a stream has no held-out task
(cl/models/corda.py); no question asks for a country's capital (the capitals task's knowledge).
"""

QUESTIONS: list[tuple[str, str, str]] = [
    # --- science ----------------------------------------------------------------------------
    ("science", "What is the chemical symbol for gold?", "Au"),
    ("science", "What gas do plants take in from the air to make their food?", "carbon dioxide"),
    ("science", "At what temperature in degrees Celsius does water boil at sea level?", "100"),
    ("science", "What is the hardest natural substance?", "diamond"),
    ("science", "What force keeps the planets in orbit around the Sun?", "gravity"),
    ("science", "How many protons does a carbon atom have?", "6"),
    ("science", "What is the most abundant gas in Earth's atmosphere?", "nitrogen"),
    ("science", "What do we call a substance that speeds up a chemical reaction without being used up?", "a catalyst"),
    # --- space ------------------------------------------------------------------------------
    ("space", "Which planet is closest to the Sun?", "Mercury"),
    ("space", "What is the largest planet in the Solar System?", "Jupiter"),
    ("space", "Which planet is known as the Red Planet?", "Mars"),
    ("space", "What is the name of the galaxy that contains the Solar System?", "the Milky Way"),
    ("space", "Who was the first person to walk on the Moon?", "Neil Armstrong"),
    ("space", "How many days does Earth take to orbit the Sun, to the nearest day?", "365"),
    ("space", "Which planet has the most prominent rings?", "Saturn"),
    # --- the human body -----------------------------------------------------------------------
    ("body", "Which organ pumps blood around the human body?", "the heart"),
    ("body", "How many bones does an adult human skeleton usually have?", "206"),
    ("body", "What is the largest organ of the human body?", "the skin"),
    ("body", "Which blood cells carry oxygen?", "red blood cells"),
    ("body", "In which organ of the body is bile made?", "the liver"),
    ("body", "How many chambers does the human heart have?", "4"),
    # --- nature and animals -------------------------------------------------------------------
    ("nature", "What is the largest animal that has ever lived?", "the blue whale"),
    ("nature", "What do caterpillars turn into?", "butterflies or moths"),
    ("nature", "Which bird is a symbol of peace?", "the dove"),
    ("nature", "How many legs does a spider have?", "8"),
    ("nature", "What is a baby kangaroo called?", "a joey"),
    ("nature", "Which is the tallest kind of animal?", "the giraffe"),
    ("nature", "What part of a plant takes up water from the soil?", "the roots"),
    # --- geography ----------------------------------------------------------------------------
    ("geography", "What is the longest river in South America?", "the Amazon"),
    ("geography", "What is the highest mountain above sea level?", "Mount Everest"),
    ("geography", "Which is the largest ocean on Earth?", "the Pacific Ocean"),
    ("geography", "On which continent is the Sahara Desert?", "Africa"),
    ("geography", "How many continents are there?", "7"),
    ("geography", "Which continent is covered almost entirely by ice?", "Antarctica"),
    ("geography", "Which sea separates Europe from Africa?", "the Mediterranean Sea"),
    # --- history and inventions ---------------------------------------------------------------
    ("history", "Who developed the theory of relativity?", "Albert Einstein"),
    ("history", "Who is credited with inventing the printing press with movable type in Europe?", "Johannes Gutenberg"),
    ("history", "In which year did the Second World War end?", "1945"),
    ("history", "Who painted the Mona Lisa?", "Leonardo da Vinci"),
    ("history", "Which ancient civilisation built the pyramids of Giza?", "the ancient Egyptians"),
    ("history", "Who wrote the play Romeo and Juliet?", "William Shakespeare"),
    ("history", "Who discovered penicillin?", "Alexander Fleming"),
    ("history", "Which brothers made the first powered aeroplane flight?", "the Wright brothers"),
    # --- music and the arts -------------------------------------------------------------------
    ("music", "How many keys does a standard piano have?", "88"),
    ("music", "Which composer wrote the Moonlight Sonata?", "Ludwig van Beethoven"),
    ("music", "How many strings does a standard violin have?", "4"),
    ("music", "What do we call a group of four musicians playing together?", "a quartet"),
    ("music", "Which instrument has pedals, pipes and keyboards and is often found in churches?", "the organ"),
    # --- sports -------------------------------------------------------------------------------
    ("sports", "How many players does a football (soccer) team have on the field?", "11"),
    ("sports", "In which sport is the term love used for a score of zero?", "tennis"),
    ("sports", "How often are the Summer Olympic Games normally held?", "every four years"),
    ("sports", "How many rings are there on the Olympic flag?", "5"),
    ("sports", "In which sport can a player score a slam dunk?", "basketball"),
    # --- food ---------------------------------------------------------------------------------
    ("food", "Which grain is used to make traditional Japanese sushi?", "rice"),
    ("food", "What is the main ingredient of guacamole?", "avocado"),
    ("food", "Which nut is used to make marzipan?", "almonds"),
    ("food", "What is the main ingredient of hummus?", "chickpeas"),
    # --- numbers and language ------------------------------------------------------------------
    ("numbers", "How many sides does a hexagon have?", "6"),
    ("numbers", "What is the square root of 81?", "9"),
    ("numbers", "How many minutes are there in two hours?", "120"),
    ("numbers", "How many degrees are there in a right angle?", "90"),
    ("language", "What is the opposite of the word ancient?", "modern"),
    ("language", "How many letters are there in the English alphabet?", "26"),
    ("language", "What is the plural of the word mouse?", "mice"),
]
